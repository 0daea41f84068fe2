"""Spine timings: `amlgen render --all --check` and `amlgen validate --all` against the baseline
`python -c "import azure.ai.ml"`, measured in the same run (interleaved rounds of fresh processes; the median of
each, and the median of the per-round ratios).

    python benchmarks/bench_spine.py [--runs 7]

The issue's target: render --check at most 0.2x the baseline, without importing azure.ai.ml at all (validate must
import it: it calls load_*).

Bytecode: azure.ai.ml loads the .pyc files pip compiled when it was installed; amlgen's own modules get theirs the
same way (pip install), or on first import. Where PYTHONDONTWRITEBYTECODE is set (as on some CI hosts and this
project's sandboxes) an editable checkout never gets them, and every run compiles amlgen's modules from source.
The warm-up therefore compiles amlgen's bytecode once (``compileall``, into the git-ignored ``__pycache__``
folders), and one more row shows render --check without it (a copy of ``generator/`` with no .pyc, bytecode
writing off), so both conditions are visible.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "baseline: import azure.ai.ml"
RENDER = "amlgen render --all --check"
NO_PYC = "  same, amlgen compiled each run"


def cases(no_pyc: Path) -> dict[str, tuple[list[str], Path, dict[str, str]]]:
    """name -> (command, working folder, environment)."""
    env = dict(os.environ)
    cold = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    cli = [sys.executable, "-m", "generator.cli"]
    return {
        BASELINE: ([sys.executable, "-c", "import azure.ai.ml"], ROOT, env),
        "baseline: python -c pass": ([sys.executable, "-c", "pass"], ROOT, env),
        RENDER: ([*cli, "render", "--all", "--check"], ROOT, env),
        # the same command on the same project; `generator` is imported from a copy without bytecode
        NO_PYC: ([*cli, "render", "--all", "--check", "-C", str(ROOT)], no_pyc, cold),
        "amlgen validate --all": ([*cli, "validate", "--all"], ROOT, env),
    }


def timed(case: tuple[list[str], Path, dict[str, str]]) -> float:
    cmd, cwd, env = case
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "generator", quiet=1)  # as `pip install` does; see the module's docstring
    with tempfile.TemporaryDirectory(prefix="amlgen-spine-") as tmp:
        no_pyc = Path(tmp)
        shutil.copytree(ROOT / "generator", no_pyc / "generator", ignore=shutil.ignore_patterns("__pycache__"))
        table = cases(no_pyc)
        for case in table.values():  # warm the page cache
            timed(case)
        samples: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.runs):  # interleaved, so drift hits every case alike
            for name, case in table.items():
                samples[name].append(timed(case))
        assert not any(no_pyc.rglob("*.pyc")), "the no-bytecode copy got .pyc files"
    base = statistics.median(samples[BASELINE])
    print(f"{args.runs} interleaved rounds, fresh processes, {os.cpu_count()} CPUs")
    print(f"{'command':36} {'median s':>9} {'min s':>7} {'vs import azure.ai.ml':>22} {'median of round ratios':>23}")
    for name, values in samples.items():
        med = statistics.median(values)
        per_round = statistics.median(v / b for v, b in zip(values, samples[BASELINE]))
        print(f"{name:36} {med:9.3f} {min(values):7.3f} {med / base:21.3f}x {per_round:22.3f}x")
    ratio = statistics.median(samples[RENDER]) / base
    print(f"render --check / import azure.ai.ml = {ratio:.3f}x (target <= 0.2x): {'ok' if ratio <= 0.2 else 'MISSED'}")
    check = subprocess.run(
        [sys.executable, "-c", ("import sys; from generator.cli import main; main(['render','--all','--check']); "
                                "print(sorted(m for m in sys.modules if m.startswith('azure')))")],
        cwd=ROOT, capture_output=True, text=True, check=True)
    print("azure modules imported by render --check:", check.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
