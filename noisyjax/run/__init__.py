"""Running agents: host environments, episode tracking, the training loop and its hooks,
evaluation, sweeps, CPU cores and devices."""
