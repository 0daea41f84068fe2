"""Spine timings: `amlgen render --all --check` and `amlgen validate --all` against the baseline
`python -c "import azure.ai.ml"`, measured in the same run (median of N fresh processes each).

    python benchmarks/bench_spine.py [--runs 7]

Rendering and --check must not import azure.ai.ml at all; validate must (it calls load_*).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "baseline: import azure.ai.ml": [sys.executable, "-c", "import azure.ai.ml"],
    "baseline: python -c pass": [sys.executable, "-c", "pass"],
    "amlgen render --all --check": [sys.executable, "-m", "generator.cli", "render", "--all", "--check"],
    "amlgen validate --all": [sys.executable, "-m", "generator.cli", "validate", "--all"],
}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for cmd in CASES.values():  # warm the page cache and .pyc files
        timed(cmd)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):  # interleaved, so drift hits every case alike
        for name, cmd in CASES.items():
            samples[name].append(timed(cmd))
    base = statistics.median(samples["baseline: import azure.ai.ml"])
    print(f"{'command':34} {'median s':>9} {'min s':>7} {'vs import azure.ai.ml':>22}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:34} {med:9.3f} {min(values):7.3f} {med / base:21.2f}x")
    check = subprocess.run(
        [sys.executable, "-c", "import sys; from generator.cli import main; main(['render','--all','--check']); "
         "print(sorted(m for m in sys.modules if m.startswith('azure.ai')))"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    print("azure.ai modules imported by render --check:", check.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
