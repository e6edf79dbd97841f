"""Replay: the uniform ring buffer, n-step windows and sampling, prioritised replay's sum tree."""
