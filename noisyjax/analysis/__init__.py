"""Analysis of finished runs: aggregate statistics and plots."""
