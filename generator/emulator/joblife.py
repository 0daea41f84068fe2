"""A job's life in time: its status at any instant, its times and error, job scripts, the nodes it holds.

Unscripted, a job is ``NotStarted`` for the first 10 % of ``job_duration``, ``Queued`` until 30 %, then
``Running``, and ends ``Completed`` (or ``Failed`` when a fault rule or a missing input path says so).

A *job script* (``Emulator.script_job``, ``POST /_emulator/job-scripts``) gives the jobs whose name matches a
regular expression another life: a list of ``(status, seconds)`` steps (e.g. ``Queued`` for a while for lack of
quota, ``NotResponding`` or ``Paused`` and back to ``Running``), then a terminal status.

Pure functions of a job record (and of the scripts in ``AppState.job_scripts``): ``jobs``, ``runtree``,
``runs``, ``computes``, ``assets`` and the control API read a job's life here.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any, Optional

from .refs import COMPUTE_ID
from .state import AppState

TERMINAL_JOB = ("Completed", "Failed", "Canceled")
# statuses a script may hold a job in (the SDK's JobStatus values that are not final)
SCRIPT_STATUSES = ("NotStarted", "Starting", "Provisioning", "Preparing", "Queued", "Running", "Finalizing",
                   "NotResponding", "Paused")
NODE_STATE = {"Running": "running", "NotResponding": "running", "Paused": "running", "Finalizing": "running",
              "CancelRequested": "running", "Preparing": "preparing", "Starting": "preparing",
              "Provisioning": "preparing"}


# ---------------------------------------------------------------------------------------------- scripts
def check_script(name: Any, steps: Any, end: Any = "Completed", message: Any = None, count: Any = None) -> dict:
    """A validated job script; raises ``ValueError`` naming what is wrong."""
    if not isinstance(name, str) or not name:
        raise ValueError("a job script needs 'name', a regular expression matched against job names")
    try:
        re.compile(name)
    except re.error as exc:
        raise ValueError(f"invalid job-name regex {name!r}: {exc}") from None
    if not isinstance(steps, (list, tuple)):
        raise ValueError("'steps' must be a list of [status, seconds] pairs")
    clean = []
    for step in steps:
        if not isinstance(step, (list, tuple)) or len(step) != 2:
            raise ValueError(f"job script step {step!r} must be a [status, seconds] pair")
        status, seconds = step
        if status not in SCRIPT_STATUSES:
            raise ValueError(f"job script status {status!r} must be one of {', '.join(SCRIPT_STATUSES)}")
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise ValueError(f"job script step {step!r}: seconds must be a number") from None
        if seconds < 0:
            raise ValueError(f"job script step {step!r}: seconds must be >= 0")
        clean.append([status, seconds])
    if end not in TERMINAL_JOB:
        raise ValueError(f"job script 'end' {end!r} must be one of {', '.join(TERMINAL_JOB)}")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError("job script 'count' must be a positive integer (or null for every matching job)")
    if message is not None and not isinstance(message, str):
        raise ValueError("job script 'message' must be a string")
    return {"name": name, "steps": clean, "end": end, "message": message, "count": count, "hits": 0}


def add_script(app: AppState, script: dict) -> dict:
    with app.lock:
        script["id"] = max((s["id"] for s in app.job_scripts), default=0) + 1
        app.job_scripts.append(script)
        return dict(script)


def script_for(app: AppState, name: str) -> Optional[dict]:
    """The first script (in the order added) matching a new job's name that has budget left; consumes it."""
    for script in app.job_scripts:
        if script["count"] is not None and script["hits"] >= script["count"]:
            continue
        if re.search(script["name"], name):
            script["hits"] += 1
            return {"steps": copy.deepcopy(script["steps"]), "end": script["end"], "message": script["message"]}
    return None


# ---------------------------------------------------------------------------------------------- lifecycle
def timeline(job: dict) -> tuple[list[tuple[str, float]], str, float]:
    """``([(status, from_second)], final status, end_second)`` of a job's life, measured from its creation."""
    emu = job["_emu"]
    script = emu.get("script")
    if script:
        out, t = [], 0.0
        for status, seconds in script["steps"]:
            out.append((status, t))
            t += seconds
        final = "Failed" if emu.get("error") else script["end"]
        return out or [("NotStarted", 0.0)], final, t
    d = emu["duration"]
    return [("NotStarted", 0.0), ("Queued", 0.1 * d), ("Running", 0.3 * d)], (
        "Failed" if emu.get("error") else "Completed"), d


def job_status(job: dict) -> str:
    emu = job["_emu"]
    now = time.time()
    if emu.get("canceled_at") is not None:
        return "Canceled" if now >= emu["canceled_at"] else "CancelRequested"
    elapsed = now - emu["created"]
    steps, final, end = timeline(job)
    if elapsed >= end:
        return final
    current = steps[0][0]
    for status, start in steps:
        if elapsed >= start:
            current = status
    return current


def job_times(job: dict) -> tuple[Optional[float], Optional[float]]:
    emu = job["_emu"]
    steps, _, end_at = timeline(job)
    started = [start for status, start in steps if status == "Running"]
    start = emu["created"] + (started[0] if started else end_at)
    end = None
    if job_status(job) in TERMINAL_JOB:
        end = emu.get("canceled_at") or emu["created"] + end_at
    return (start if time.time() >= start else None), end


def job_error(job: dict) -> dict:
    emu = job["_emu"]
    script = emu.get("script") or {}
    return emu.get("error") or {"code": "UserError", "message": script.get("message") or "The job failed."}


def computes_of(job: dict) -> set[str]:
    """The clusters a job runs on: ``computeId``, ``settings.default_compute``, child ``computeId``s and the
    literal ``compute_*`` inputs (how chat_completion_pipeline takes its clusters)."""
    props = job["properties"]
    refs = [props.get("computeId"), (props.get("settings") or {}).get("default_compute")]
    for child in (props.get("jobs") or {}).values():
        if isinstance(child, dict):
            refs.append(child.get("computeId"))
            refs.extend(v.get("value") for k, v in (child.get("inputs") or {}).items()
                        if k.startswith("compute_") and isinstance(v, dict))
    refs.extend(v.get("value") for k, v in (props.get("inputs") or {}).items()
                if k.startswith("compute_") and isinstance(v, dict))
    out = set()
    for ref in refs:
        if not isinstance(ref, str) or not ref or "${{" in ref:
            continue
        m = COMPUTE_ID.match(ref)
        out.add((m["name"] if m else ref.split(":", 1)[-1] if ref.lower().startswith("azureml:") else ref).lower())
    return out


def job_nodes(ws: dict, compute: str) -> list[tuple[str, str, int]]:
    """``(job name, node state, node count)`` for each job holding nodes of ``compute`` now: a running job holds
    ``resources.instanceCount`` nodes (1 by default) of each cluster it runs on."""
    out = []
    for job in sorted(ws["jobs"].values(), key=lambda j: j["_emu"]["created"]):
        state = NODE_STATE.get(job_status(job))
        if state and compute.lower() in computes_of(job):
            count = (job["properties"].get("resources") or {}).get("instanceCount") or 1
            out.append((job["name"], state, int(count)))
    return out
