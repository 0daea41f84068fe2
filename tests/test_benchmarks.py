"""The benchmarks (``benchmarks/``) are not run by the suite (they take minutes), so a renamed function would only
show when someone measures. This reads them as the interpreter would and checks that every name they take from
amlgen exists: ``from generator.X import Y`` and ``api.NAME``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((REPO / "benchmarks").glob("*.py"))


def names_used(source: str) -> list[tuple[str, str, int]]:
    """(module, name, line) for every ``from generator... import name`` and every ``api.name``."""
    tree = ast.parse(source)
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("generator"):
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "api":
            found.append(("generator.api", node.attr, node.lineno))
    return found


def missing(source: str) -> list[str]:
    out = []
    for module, name, line in names_used(source):
        mod = importlib.import_module(module)
        if not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                out.append(f"line {line}: {module} has no {name}")
    return out


def test_there_are_benchmarks():
    assert {p.name for p in BENCHMARKS} >= {"bench_apply.py", "bench_spine.py", "bench_rollout.py", "bench_data.py"}


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_every_name_a_benchmark_takes_from_amlgen_exists(path):
    assert missing(path.read_text(encoding="utf-8")) == []


def test_a_name_that_is_gone_is_found():
    source = "from generator import api\nfrom generator.config import no_such_loader\napi.no_such_command(1)\n"
    assert missing(source) == ["line 2: generator.config has no no_such_loader",
                               "line 3: generator.api has no no_such_command"]
