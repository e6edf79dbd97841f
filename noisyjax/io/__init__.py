"""Run-folder I/O: checkpoints, config.json, CSV logs, summary.json and plots, loading a run back."""
