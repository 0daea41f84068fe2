"""Wall time of a staged rollout on the emulator against the sum of its configured waits.

The flow of ``tests/engine/test_engine_promotion.py``, through ``generator.api`` on an in-process emulator
provisioned like ``amlgen up`` does (both workspaces in their regions, the promotion registry): a project in a
temporary folder (the repository's ``infra/`` and ``templates/``, the bundled data sample, the dev specs), prod's
rollout set to the steps below; apply dev, promote dev to prod, apply prod (the first version takes the endpoint);
change a fine-tuning parameter in dev, render, apply dev, promote again; then the timed ``api.apply`` of prod
rolls the endpoint from the first version to the second: create the new deployment next to the live one, smoke
test it, then each step (mirror 20 %, 10 %, 100 %) with its wait and its check, then delete what ``keep`` does
not keep.

The setup runs with the tests' tiny emulator latencies; the timed apply with realistic small ones (those of
``bench_apply.py``). Printed: the wall time, the sum of the waits, the overhead (wall - waits) and the ratio, the
emulator's own latencies on the rollout's path (deployment create, endpoint updates, delete), and a timeline of
the apply's progress lines. Run: ``python benchmarks/bench_rollout.py [--mirror-wait 2 --traffic-wait 2]``.
"""

from __future__ import annotations

import argparse
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

SETUP_LATENCIES = {"compute": 0.05, "endpoint": 0.05, "deployment": 0.08, "model": 0.0, "data": 0.0, "delete": 0.03,
                   "cancel": 0.02}  # the engine tests' (tests/engine_support.py)
SETUP_JOB = 0.4
LATENCIES = {"compute": 3.0, "endpoint": 4.0, "endpoint_update": 0.5, "deployment": 6.0, "model": 0.5, "data": 0.0,
             "delete": 0.1, "cancel": 0.1}  # bench_apply.py's, with its traffic-only endpoint update


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror-wait", type=int, default=2, help="seconds to watch the mirror-20%% step")
    parser.add_argument("--traffic-wait", type=int, default=2, help="seconds to watch the 10%% step")
    args = parser.parse_args()

    from generator import api
    from generator.emulator import Emulator
    from generator.emulator.target import LocalTarget
    from generator.engine.apply import Reporter
    from generator.flows.up import prepare_project, provision

    class Timeline(Reporter):
        """The apply's progress lines with the time each was printed."""

        def __init__(self) -> None:
            super().__init__(io.StringIO(), tty=False)
            self.t0 = time.monotonic()
            self.lines: list[tuple[float, str]] = []

        def line(self, text: str) -> None:
            self.lines.append((time.monotonic() - self.t0, text))

    def check(result, what: str) -> None:
        if not result.ok:
            raise SystemExit(f"{what} failed: {result.errors}")

    quiet = Reporter(io.StringIO(), tty=False)
    steps = (f"\nrollout:\n  steps:\n    - {{mirror: 20, wait: {args.mirror_wait}}}\n"
             f"    - {{traffic: 10, wait: {args.traffic_wait}}}\n    - {{traffic: 100}}\n")
    tmp = Path(tempfile.mkdtemp(prefix="amlgen-bench-rollout-"))
    try:
        shutil.copytree(REPO / "infra", tmp / "infra", ignore=shutil.ignore_patterns("params"))
        shutil.copytree(REPO / "templates", tmp / "templates")
        with open(tmp / "infra/environments/prod.yml", "a", encoding="utf-8") as fh:
            fh.write(steps)
        t_setup = time.monotonic()
        prepare_project(tmp, "dev", quiet)  # the bundled sample, specs/dev/
        api.render(tmp, ["prod"], with_infra=False)
        envs = api.load_all(tmp)
        dev = next(e for e in envs if e.name == "dev").config.workspace
        with Emulator(latencies=SETUP_LATENCIES, job_duration=SETUP_JOB, subscription_id=dev.subscription_id,
                      resource_group=dev.resource_group, workspace_name=dev.name, location=dev.location) as emu:
            provision(emu, envs)
            target = LocalTarget(emu.base_url, emu.ca_path)
            check(api.apply(tmp, "dev", target=target, yes=True, reporter=quiet), "apply dev")
            first = api.promote(tmp, "dev", "prod", target=target, reporter=quiet)
            check(api.apply(tmp, "prod", target=target, yes=True, reporter=quiet), "apply prod (first version)")
            with open(tmp / "infra/environments/dev.yml", "a", encoding="utf-8") as fh:
                fh.write("\nfinetune:\n  lora_r: 16\n")
            api.render(tmp, ["dev"], with_infra=False)
            check(api.apply(tmp, "dev", target=target, yes=True, reporter=quiet), "apply dev (lora_r: 16)")
            second = api.promote(tmp, "dev", "prod", target=target, reporter=quiet)
            print(f"setup: {time.monotonic() - t_setup:.1f} s (dev trained twice, {first.model} {first.version} then "
                  f"{second.version} promoted to prod, the first one live)")

            emu.latencies.update(LATENCIES)
            emu.job_duration = 10.0
            plan = api.plan(tmp, "prod", target=target)  # untimed: the SDK imported, the specs read
            rollout = next(e for e in api.load_all(tmp) if e.name == "prod").config.rollout
            waits = sum(s.wait for s in rollout.steps)
            moves = [i.note for i in plan.items if "staged rollout" in i.note]
            if moves:
                print(f"plan: {moves[0]}")
            emu.clear_requests()
            timeline = Timeline()
            t0 = time.monotonic()
            result = api.apply(tmp, "prod", target=target, yes=True, reporter=timeline)
            wall = time.monotonic() - t0
            check(result, "apply prod (staged rollout)")
            paths = [(r.method, r.path.lower()) for r in emu.requests]
            updates = sum(1 for method, path in paths if method in ("PUT", "PATCH") and "/onlineendpoints/" in path
                          and "/deployments/" not in path)
            deletes = sum(1 for method, _ in paths if method == "DELETE")
            floor = LATENCIES["deployment"] + updates * LATENCIES["endpoint_update"] + deletes * LATENCIES["delete"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print("timeline of the timed apply (seconds from its start):")
    for at, text in timeline.lines:
        print(f"  {at:6.2f}  {text}")
    print(f"emulator latencies: {', '.join(f'{k} {v:g}s' for k, v in LATENCIES.items())}")
    print(f"staged rollout (api.apply of prod)  {wall:6.2f} s wall")
    print(f"configured waits                    {waits:6.2f} s ({' + '.join(str(s.wait) for s in rollout.steps)})")
    print(f"overhead (wall - waits)             {wall - waits:6.2f} s; wall / waits = {wall / waits:.2f}x")
    print(f"emulator latency on the path        {floor:6.2f} s (deployment create {LATENCIES['deployment']:g} + "
          f"{updates} endpoint updates x {LATENCIES['endpoint_update']:g} + "
          f"{deletes} deletes x {LATENCIES['delete']:g})")
    rest = wall - waits - floor
    print(f"the rest (amlgen, SDK, HTTP, checks) {rest:5.2f} s; wall / (waits + emulator latency) = "
          f"{wall / (waits + floor):.3f}x")
    created = next((at for at, text in timeline.lines if "deployment" in text and " created in " in text), None)
    if created is not None:  # the rollout proper: from the new deployment's creation to 100 % (and the cleanup)
        phase = wall - created
        moved = waits + updates * LATENCIES["endpoint_update"] + deletes * LATENCIES["delete"]
        print(f"rollout after the deployment exists {phase:6.2f} s against {moved:.2f} s of waits and endpoint updates "
              f"({phase - moved:.2f} s for the smoke test, the step checks and reading the endpoint)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
