"""The package stays navigable: small modules, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "noisyjax"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_modules_are_short():
    lines = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _modules()}
    long = {name: n for name, n in lines.items() if n > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_functions_are_short():
    long = {}
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(PACKAGE)}:{node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_notebook_api_is_top_level():
    """What the README imports, and a notebook's evaluation, statistics and hyperparameter
    helpers, are importable from ``noisyjax``; ``__all__`` lists only names that exist."""
    import noisyjax as nj

    for name in ("noisy_dense_init", "noisy_dense_apply", "NoisyDense", "QNetwork", "replay_init",
                 "replay_add", "replay_sample", "Config", "train", "evaluate", "stats",
                 "stack_hparams", "hparams_from_config", "SWEEPABLE"):
        assert name in nj.__all__ and getattr(nj, name) is not None, name
    assert all(hasattr(nj, name) for name in nj.__all__)
    assert len(set(nj.__all__)) == len(nj.__all__)
    assert callable(nj.stats.steps_to_solve) and callable(nj.evaluate)
