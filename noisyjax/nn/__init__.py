"""Neural-network parts: the noisy layer and the Q-network."""
