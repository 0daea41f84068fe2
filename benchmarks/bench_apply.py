"""Wall time of `apply` (concurrent DAG) vs the notebook's sequential order, against the emulator.

Emulator latencies: compute 3 s, endpoint 4 s, job 10 s, model 0.5 s, deployment 6 s. The issue's critical path
is compute -> job -> model -> deployment (19.5 s), but the traffic split can only be set once the deployment has
succeeded (and answered its smoke test), so every apply ends with an endpoint update that no scheduling can
overlap. The benchmark runs two scenarios: the traffic update costing the full endpoint latency (4 s, as a create
does) and a traffic-only update of an existing endpoint costing 0.5 s (emulator latency kind ``endpoint_update``),
and prints each run against both the issue's path and the full path including the traffic update.

Both runs of a scenario do the same operations through the same public API (``api.apply`` with a ``LocalTarget``
on an in-process emulator provisioned like ``amlgen up`` does) on the same project: the repository's ``infra/``
and ``templates/`` in a temporary folder, the bundled data sample prepared and the dev specs rendered. The
sequential run executes them one after another in the notebook's order (compute, data, job + wait, model,
endpoint, deployment, traffic). Each timed ``api.apply`` follows an untimed ``api.plan`` on the emptied emulator
(the SDK is imported and the specs are read once before anything is timed); the time includes what
``api.apply`` does besides the operations (reading the specs, connecting, the data check, the smoke test).
Run: ``python benchmarks/bench_apply.py``.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AZUREML_RUN_POLLING_INTERVAL_MIN", "0")
os.environ.setdefault("AZUREML_RUN_POLLING_INTERVAL_MAX", "0")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LATENCIES = {"compute": 3.0, "endpoint": 4.0, "deployment": 6.0, "model": 0.5, "data": 0.0, "delete": 0.1, "cancel": 0.1}
JOB = 10.0
CRITICAL = LATENCIES["compute"] + JOB + LATENCIES["model"] + LATENCIES["deployment"]
SCENARIOS = {"traffic update = endpoint create (4 s)": None, "traffic-only endpoint update 0.5 s": 0.5}
ENV = "dev"


def main() -> int:
    from generator import api
    from generator.emulator import Emulator
    from generator.emulator.target import LocalTarget
    from generator.engine.apply import Reporter
    from generator.flows.up import prepare_project, provision

    tmp = Path(tempfile.mkdtemp(prefix="amlgen-bench-"))
    try:
        shutil.copytree(REPO / "infra", tmp / "infra", ignore=shutil.ignore_patterns("params"))
        shutil.copytree(REPO / "templates", tmp / "templates")
        prepare_project(tmp, ENV, Reporter(io.StringIO(), tty=False))  # the bundled sample, specs/dev/
        envs = api.load_all(tmp)
        w = next(e for e in envs if e.name == ENV).config.workspace
        for scenario, update in SCENARIOS.items():
            latencies = {**LATENCIES, "endpoint_update": update} if update is not None else LATENCIES
            traffic = update if update is not None else LATENCIES["endpoint"]
            full = CRITICAL + traffic
            print(f"== {scenario}")
            with Emulator(latencies=latencies, job_duration=JOB, subscription_id=w.subscription_id,
                          resource_group=w.resource_group, workspace_name=w.name, location=w.location) as emu:
                target = LocalTarget(emu.base_url, emu.ca_path)
                times = {}
                for mode in ("apply (concurrent)", "notebook order (sequential)"):
                    emu.reset()
                    provision(emu, envs)  # the workspaces in their regions, the promotion registry
                    plan = api.plan(tmp, ENV, target=target)  # untimed: imports, specs, an empty workspace
                    emu.clear_requests()
                    t0 = time.monotonic()
                    result = api.apply(tmp, ENV, target=target, yes=True, sequential=mode.startswith("notebook"),
                                       reporter=Reporter(io.StringIO(), tty=False))
                    times[mode] = time.monotonic() - t0
                    if not result.ok:
                        print(f"{mode}: FAILED: {result.errors}", file=sys.stderr)
                        return 1
                    print(f"  {mode:30} {times[mode]:6.2f} s  ({emu.write_calls()} write calls, "
                          f"{len(result.steps)} steps; the plan had {sum(i.changing for i in plan.items)} changes)")
            concurrent, sequential = times["apply (concurrent)"], times["notebook order (sequential)"]
            print(f"  critical path (issue)          {CRITICAL:6.2f} s  (compute {LATENCIES['compute']:g} + job {JOB:g} + "
                  f"model {LATENCIES['model']:g} + deployment {LATENCIES['deployment']:g})")
            print(f"  critical path + traffic update {full:6.2f} s")
            print(f"  apply / critical path (issue) = {concurrent / CRITICAL:.3f}x (target <= 1.1x); "
                  f"apply / path incl. traffic = {concurrent / full:.3f}x")
            print(f"  sequential / critical path (issue) = {sequential / CRITICAL:.3f}x; apply saves "
                  f"{sequential - concurrent:.1f} s ({(1 - concurrent / sequential) * 100:.0f}%)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
