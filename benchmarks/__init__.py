"""Measurements of noisyjax: python -m benchmarks.<name> (each takes --quick)."""
