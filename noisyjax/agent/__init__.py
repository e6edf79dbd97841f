"""The agent core: typed state, TD losses, the optax optimiser, and the pure agent step."""
