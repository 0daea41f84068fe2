"""Pipeline and command jobs with a time-based lifecycle, their cancel LRO, and the run-history ``details``.

A job PUT answers **201** + ``Location`` (no LRO header) with status ``NotStarted`` (fact 31). Unscripted, a job
is ``NotStarted`` for the first 10 % of ``job_duration``, ``Queued`` until 30 %, then ``Running``, and ends
``Completed`` (or ``Failed`` when a fault rule or a missing input path says so); once running the service's
``azureml.*`` run properties appear, and a pipeline gets ``azureml.pipelines.stages`` when it ends (fact 32).

A *job script* (``Emulator.script_job``, ``POST /_emulator/job-scripts``) gives the jobs whose name matches a
regular expression another life: a list of ``(status, seconds)`` steps (e.g. ``Queued`` for a while for lack of
quota, ``NotResponding`` or ``Paused`` and back to ``Running``), then a terminal status.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from typing import Any, Optional

from .core import (
    PROVIDER, ApiError, Request, Response, add_routes, bad, fault_error, iso, not_found, poll_ms, public, refuse,
    ws_id,
)
from .operations import lro, op_url, resource_url
from .refs import COMPUTE_ID, asset_ref_ok, component_ref_ok, compute_ref_ok
from .state import AppState
from .workspace import WS

JOBS = WS + "/jobs"
JOB = JOBS + "/{name}"
RUN = "history/runs/{run}"
TERMINAL_JOB = ("Completed", "Failed", "Canceled")
# statuses a script may hold a job in (the SDK's JobStatus values that are not final)
SCRIPT_STATUSES = ("NotStarted", "Starting", "Provisioning", "Preparing", "Queued", "Running", "Finalizing",
                   "NotResponding", "Paused")
NODE_STATE = {"Running": "running", "NotResponding": "running", "Paused": "running", "Finalizing": "running",
              "CancelRequested": "running", "Preparing": "preparing", "Starting": "preparing",
              "Provisioning": "preparing"}
_JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")


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


def _script_for(app: AppState, name: str) -> Optional[dict]:
    """The first script (in the order added) matching a new job's name that has budget left; consumes it."""
    for script in app.job_scripts:
        if script["count"] is not None and script["hits"] >= script["count"]:
            continue
        if re.search(script["name"], name):
            script["hits"] += 1
            return {"steps": copy.deepcopy(script["steps"]), "end": script["end"], "message": script["message"]}
    return None


# ---------------------------------------------------------------------------------------------- lifecycle
def _timeline(job: dict) -> tuple[list[tuple[str, float]], str, float]:
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
    steps, final, end = _timeline(job)
    if elapsed >= end:
        return final
    current = steps[0][0]
    for status, start in steps:
        if elapsed >= start:
            current = status
    return current


def _job_times(job: dict) -> tuple[Optional[float], Optional[float]]:
    emu = job["_emu"]
    steps, _, end_at = _timeline(job)
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


# ------------------------------------------------------------------------------------------------- bodies
RUN_PROPERTIES = {"azureml.DevPlatv2": "true", "azureml.DatasetAccessMode": "Asset", "runSource": "MFE",
                  "runType": "HTTP"}


def _service_properties(ws: dict, job: dict, status: str) -> dict:
    """The run properties the service adds once a job runs (fact 32)."""
    props = job["properties"]
    if status in ("NotStarted", "Queued"):
        return {}
    out = dict(RUN_PROPERTIES)
    if props.get("jobType") == "Pipeline":
        computes = sorted(computes_of(job))
        out.update({"azureml.runsource": "azureml.PipelineRun", "azureml.parameters": "{}",
                    "azureml.continue_on_step_failure": str(
                        bool((props.get("settings") or {}).get("continue_on_step_failure", True))),
                    "azureml.continue_on_failed_optional_input": "True", "azureml.enforceRerun": "False",
                    "azureml.defaultComputeName": computes[0] if computes else "serverless",
                    "azureml.defaultDataStoreName": "workspaceblobstore", "azureml.pipelineComponent": "pipelinerun"})
        if status in TERMINAL_JOB:
            start, end = _job_times(job)
            out["azureml.pipelines.stages"] = json.dumps({"Initialization": None, "Execution": {
                "StartTime": iso(start or end or 0), "EndTime": iso(end or 0), "Status": status}},
                separators=(",", ":"))
    return out


def _output(value: Any) -> Any:
    if not isinstance(value, dict) or "jobOutputType" not in value:
        return value
    base = {"description": None, "uri": None, "assetName": None, "assetVersion": None, "mode": None,
            "pathOnCompute": None, "autoDeleteSetting": None}
    base.update(value)
    base["jobOutputType"] = base.pop("jobOutputType")
    return base


def job_body(app: AppState, ws: dict, job: dict, status: Optional[str] = None) -> dict:
    body = public(job)
    sent = body["properties"]
    status = status or job_status(job)
    studio = (f"https://ml.azure.com/runs/{job['name']}?wsid=/subscriptions/{ws['sub']}/resourcegroups/{ws['rg']}/"
              f"workspaces/{ws['name']}")  # the SDK appends &tid=
    service = {"port": None, "status": None, "errorMessage": None, "properties": None, "nodes": None}
    props: dict = {
        "description": sent.get("description"), "tags": sent.get("tags") or {},
        "properties": {**(sent.get("properties") or {}), **_service_properties(ws, job, status)},
        "displayName": sent.get("displayName"), "status": status, "experimentName": sent.get("experimentName"),
        "services": {
            "Tracking": {"jobServiceType": "Tracking", **service,
                         "endpoint": f"azureml://{ws['location']}.api.azureml.ms/mlflow/v1.0{ws_id(ws)}?"},
            "Studio": {"jobServiceType": "Studio", **service, "endpoint": studio},
        },
        "computeId": sent.get("computeId"), "isArchived": sent.get("isArchived", False),
        "identity": sent.get("identity"), "componentId": sent.get("componentId"),
        "notificationSetting": sent.get("notificationSetting"),
        "secretsConfiguration": sent.get("secretsConfiguration"),
    }
    for key, value in sent.items():
        if key not in props:
            props[key] = value
    props["inputs"] = sent.get("inputs") or None  # the service answers null for {} (fact 31)
    props["outputs"] = {k: _output(v) for k, v in (sent.get("outputs") or {}).items()}
    props.setdefault("sourceJobId", None)
    props["sourceJobId"] = props.pop("sourceJobId")
    return {"id": body["id"], "name": body["name"], "type": body["type"], "properties": props,
            "systemData": {"createdAt": iso(job["_emu"]["created"]), "createdBy": "emulator@amlgen.local",
                           "createdByType": "User"}}


# ----------------------------------------------------------------------------------------------- handlers
def _existing(req: Request, name: str) -> dict:
    job = req.ws["jobs"].get(name.lower())
    if job is None:
        raise not_found("job", name)
    return job


def list_jobs(app: AppState, req: Request) -> Response:
    recs = sorted(req.ws["jobs"].values(), key=lambda r: r["_emu"]["created"], reverse=True)
    jtype = req.query.get("jobType")
    if jtype:
        recs = [r for r in recs if r["properties"].get("jobType", "").lower() == jtype.lower()]
    return Response(200, {"value": [job_body(app, req.ws, r) for r in recs]})


def get_job(app: AppState, req: Request) -> Response:
    if req.params["name"].lower() not in req.ws["jobs"]:  # a pipeline's child run: a job without properties
        from .runs import child_job_body

        child = child_job_body(app, req.ws, req.params["name"])
        if child is not None:
            return Response(200, child)
    return Response(200, job_body(app, req.ws, _existing(req, req.params["name"])))


def cancel_job(app: AppState, req: Request) -> Response:
    job = _existing(req, req.params["name"])
    now = time.time()
    if job_status(job) not in TERMINAL_JOB and job["_emu"].get("canceled_at") is None:
        job["_emu"]["canceled_at"] = now + app.latencies["cancel"]
    ready = job["_emu"].get("canceled_at") or now
    op = lro(app, "cancel", ready, "Succeeded", None, ws=req.ws, api_version=req.query.get("api-version"))
    return Response(202, None, {"Location": op_url(app, op, "mfeOperationResults"), "retry-after-ms": poll_ms(ready)})


def unknown_action(app: AppState, req: Request) -> Response:
    _existing(req, req.params["name"])
    raise ApiError(404, "NotFound", f"Unknown job action {req.parts[4]}.")


def put_job(app: AppState, req: Request) -> Response:
    ws, name, data = req.ws, req.params["name"], req.data
    if not _JOB_NAME.match(name):
        raise bad(f"Job name '{name}' is invalid: letters, digits, '-' and '_' only, starting with a letter "
                  f"or digit, at most 255 characters.", "ValidationError")
    if name.lower() in ws["jobs"]:
        raise ApiError(409, "UserError",
                       f"A job with name '{name}' already exists in workspace '{ws['name']}'. Job names are "
                       f"unique and a submitted job cannot be replaced; submit with a new name.")
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise bad("The job body must have 'properties'.", "InvalidRequestContent")
    props = copy.deepcopy(data["properties"])
    jtype = props.get("jobType")
    if jtype not in ("Pipeline", "Command"):
        raise bad(f"jobType '{jtype}' is not supported by the emulator (Pipeline, Command).")
    runtime_errors: list[str] = []
    compute_ref_ok(ws, props.get("computeId"), "job")
    settings = props.get("settings") or {}
    if isinstance(settings, dict):
        compute_ref_ok(ws, settings.get("default_compute"), "settings.default_compute")
    for in_name, inp in (props.get("inputs") or {}).items():
        if isinstance(inp, dict):
            msg = asset_ref_ok(app, ws, inp.get("uri"), f"input '{in_name}'")
            if msg:
                runtime_errors.append(msg)
    if jtype == "Pipeline":
        _check_pipeline(app, ws, props, runtime_errors)
    elif not props.get("command"):
        raise bad("A command job needs 'command'.")
    error = fault_error(req.rule)
    if error is None and runtime_errors:
        error = {"code": "UserError", "message": "; ".join(runtime_errors)}
    now = time.time()
    props.setdefault("displayName", name)
    props.setdefault("experimentName", "Default")
    props.setdefault("tags", {})
    props.setdefault("properties", {})
    props.setdefault("isArchived", False)
    props.setdefault("outputs", {})
    script = _script_for(app, name)
    if script and script["end"] == "Failed" and error is None:
        error = {"code": "UserError", "message": script["message"] or "The job failed (scripted)."}
    job = {
        "id": f"{ws_id(ws)}/jobs/{name}", "name": name, "type": f"{PROVIDER}/workspaces/jobs",
        "properties": props,
        "_emu": {"created": now, "duration": app.job_duration, "error": error, "canceled_at": None,
                 "script": script},
    }
    ws["jobs"][name.lower()] = job
    # the submission answer always says NotStarted (fact 31), whatever the job does next
    return Response(201, job_body(app, ws, job, "NotStarted"),
                    {"Location": resource_url(app, job["id"], req.query.get("api-version")),
                     "x-ms-response-type": "standard"})


def _check_pipeline(app: AppState, ws: dict, props: dict, runtime_errors: list[str]) -> None:
    """Child jobs' computes, components and inputs, and the pipeline's literal ``compute_*`` inputs."""
    jobs = props.get("jobs") or {}
    if not isinstance(jobs, dict) or not jobs:
        raise bad("A pipeline job needs at least one child job.", "UserError")
    for child_name, child in jobs.items():
        if not isinstance(child, dict):
            raise bad(f"child job '{child_name}' is malformed.")
        where = f"jobs.{child_name}"
        compute_ref_ok(ws, child.get("computeId"), where)
        component_ref_ok(app, ws, child.get("componentId"), where)
        for in_name, inp in (child.get("inputs") or {}).items():
            if not isinstance(inp, dict):
                continue
            msg = asset_ref_ok(app, ws, inp.get("uri"), f"{where}.inputs.{in_name}")
            if msg:
                runtime_errors.append(msg)
            value = inp.get("value")
            if in_name.startswith("compute_") and isinstance(value, str) and "${{" not in value:
                compute_ref_ok(ws, value, f"{where}.inputs.{in_name}")
    for in_name, inp in (props.get("inputs") or {}).items():
        value = inp.get("value") if isinstance(inp, dict) else None
        if in_name.startswith("compute_") and isinstance(value, str) and "${{" not in value:
            # chat_completion_pipeline takes its computes as literal inputs: check them like computeId
            compute_ref_ok(ws, value, f"inputs.{in_name}")


# ---------------------------------------------------------------------------------------------- run history
def _run(req: Request) -> dict:
    job = req.ws["jobs"].get(req.params["run"].lower())
    if job is None:
        raise not_found("run", req.params["run"])
    return job


def run_details(app: AppState, req: Request) -> Response:
    """``GET .../runs/<job>`` and ``.../details``: status, times and error, long-polling a little."""
    from .runs import child_details, root_log_files

    if req.params["run"].lower() not in req.ws["jobs"]:  # a pipeline's child run (``runs``)
        return child_details(app, req)
    job = _run(req)
    status = job_status(job)
    start, end = _job_times(job)
    body = {
        "runId": job["name"], "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, job["id"])), "status": status,
        "startTimeUtc": iso(start) if start else None, "endTimeUtc": iso(end) if end else None,
        "target": job["properties"].get("computeId"), "properties": {}, "inputDatasets": [],
        "outputDatasets": [], "logFiles": root_log_files(app, req.ws, job), "warnings": [],
        "revision": 1,
    }
    if status == "Failed":
        err = job_error(job)
        body["error"] = {"error": {"code": err["code"], "message": err["message"]}}
    if status not in TERMINAL_JOB:
        # long-poll a little so a client that polls without sleeping does not spin
        _, _, end_at = _timeline(job)
        app.lock.release()
        try:
            time.sleep(min(0.05, max(0.0, job["_emu"]["created"] + end_at - time.time())))
        finally:
            app.lock.acquire()
    return Response(200, body)


def unknown_run_route(app: AppState, req: Request) -> Response:
    _run(req)
    raise ApiError(404, "NotFound", f"Unknown run-history route {req.match['rest']}.")


add_routes(
    (JOBS, "GET", list_jobs),
    (JOBS, "*", refuse(405, "MethodNotAllowed", "{method} not supported on jobs.")),
    (JOB, "GET", get_job),
    (JOB, "PUT", put_job),
    (JOB, "DELETE", refuse(405, "MethodNotAllowed", "Jobs cannot be deleted; archive them instead.")),
    (JOB, "*", refuse(405, "MethodNotAllowed", "{method} not supported on jobs.")),
    (JOB + "/cancel", "POST", cancel_job),
    (JOB + "/*", "*", unknown_action),
    (RUN, "GET", run_details),
    (RUN + "/details", "GET", run_details),
    (RUN + "/*", "*", unknown_run_route),
)
