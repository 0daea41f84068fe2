"""``python -m generator.emulator``: run an emulator in the foreground (see ``run_emulator``)."""

from __future__ import annotations

import argparse
import sys

from generator.errors import AmlgenError

from . import DEFAULT_JOB_DURATION, run_emulator


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator.emulator",
                                     description="Serve a loopback Azure ML workspace emulator until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state-dir", help="keep the state in STATE_DIR/state.json across restarts")
    parser.add_argument("--job-duration", type=float, default=DEFAULT_JOB_DURATION)
    parser.add_argument("--latency", action="append", default=[], metavar="KIND=SECONDS",
                        help="compute, endpoint, deployment, model, data, delete or cancel (repeatable)")
    parser.add_argument("--workspace", action="append", dest="workspaces", metavar="NAME[@REGION]",
                        help="serve only these workspace names, each in its region (default: any name, created "
                             "on first use in --location)")
    parser.add_argument("--location", default="eastus", help="the region of workspaces not given one")
    parser.add_argument("--registry", action="append", default=[], metavar="NAME=REGION[,REGION...]",
                        help="a user registry reachable from these regions (repeatable; azureml is always served)")
    parser.add_argument("--verbose", action="store_true", help="print method, path and status of each request")
    ns = parser.parse_args(argv)
    latencies = {}
    for item in ns.latency:
        kind, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--latency expects KIND=SECONDS, got {item!r}")
        latencies[kind] = value
    registries = {}
    for item in ns.registry:
        name, sep, regions = item.partition("=")
        if not sep or not regions:
            parser.error(f"--registry expects NAME=REGION[,REGION...], got {item!r}")
        registries[name] = [r.strip() for r in regions.split(",") if r.strip()]
    workspaces = None
    if ns.workspaces:
        workspaces = []
        for item in ns.workspaces:
            name, _, region = item.partition("@")
            workspaces.append({"name": name, "location": region or ns.location})
    try:
        run_emulator(ns.host, ns.port, ns.state_dir, latencies, ns.job_duration, verbose=ns.verbose,
                     workspaces=workspaces, location=ns.location, registries=registries or None)
    except AmlgenError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
