"""Pipeline and command jobs with a time-based lifecycle, their cancel LRO, and the run-history ``details``.

A job is ``NotStarted`` for the first 10 % of ``job_duration``, ``Queued`` until 30 %, then ``Running``, and
ends ``Completed`` (or ``Failed`` when a fault rule or a missing input path says so).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from typing import TYPE_CHECKING, Optional

from .core import (
    PROVIDER, ApiError, Request, Response, add_routes, bad, fault_error, iso, not_found, poll_ms, public, refuse,
    system_data, ws_id,
)
from .refs import asset_ref_ok, component_ref_ok, compute_ref_ok
from .workspace import WS

if TYPE_CHECKING:
    from .app import App

JOBS = WS + "/jobs"
JOB = JOBS + "/{name}"
RUN = "history/runs/{run}"
TERMINAL_JOB = ("Completed", "Failed", "Canceled")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")


def job_status(job: dict) -> str:
    emu = job["_emu"]
    now = time.time()
    if emu.get("canceled_at") is not None and now >= emu["canceled_at"]:
        return "Canceled"
    if emu.get("canceled_at") is not None:
        return "CancelRequested"
    elapsed = now - emu["created"]
    d = emu["duration"]
    if elapsed >= d:
        return "Failed" if emu.get("error") else "Completed"
    if elapsed < 0.1 * d:
        return "NotStarted"
    if elapsed < 0.3 * d:
        return "Queued"
    return "Running"


def _job_times(job: dict) -> tuple[Optional[float], Optional[float]]:
    emu = job["_emu"]
    start = emu["created"] + 0.3 * emu["duration"]
    end = None
    if job_status(job) in TERMINAL_JOB:
        end = emu.get("canceled_at") or emu["created"] + emu["duration"]
    return (start if time.time() >= start else None), end


def job_body(app: App, ws: dict, job: dict) -> dict:
    body = public(job)
    props = body["properties"]
    props["status"] = job_status(job)
    studio = f"https://ml.azure.com/runs/{job['name']}?wsid={ws_id(ws)}"  # the SDK appends &tid=
    props["services"] = {
        "Studio": {"jobServiceType": "Studio", "endpoint": studio, "status": None, "errorMessage": None},
        "Tracking": {"jobServiceType": "Tracking", "endpoint": f"azureml://{app.location}.api.azureml.ms/"
                     f"mlflow/v1.0{ws_id(ws)}?", "status": None, "errorMessage": None},
    }
    body["systemData"] = system_data(job["_emu"]["created"])
    return body


def _existing(req: Request, name: str) -> dict:
    job = req.ws["jobs"].get(name.lower())
    if job is None:
        raise not_found("job", name)
    return job


def list_jobs(app: App, req: Request) -> Response:
    recs = sorted(req.ws["jobs"].values(), key=lambda r: r["_emu"]["created"], reverse=True)
    jtype = req.query.get("jobType")
    if jtype:
        recs = [r for r in recs if r["properties"].get("jobType", "").lower() == jtype.lower()]
    return Response(200, {"value": [job_body(app, req.ws, r) for r in recs]})


def get_job(app: App, req: Request) -> Response:
    if req.params["name"].lower() not in req.ws["jobs"]:  # a pipeline's child run: a job without properties
        from .runs import child_job_body

        child = child_job_body(app, req.ws, req.params["name"])
        if child is not None:
            return Response(200, child)
    return Response(200, job_body(app, req.ws, _existing(req, req.params["name"])))


def cancel_job(app: App, req: Request) -> Response:
    job = _existing(req, req.params["name"])
    now = time.time()
    if job_status(job) not in TERMINAL_JOB and job["_emu"].get("canceled_at") is None:
        job["_emu"]["canceled_at"] = now + app.latencies["cancel"]
    ready = job["_emu"].get("canceled_at") or now
    op = app.lro("cancel", ready, "Succeeded", None)
    return Response(202, None, {"Location": app.op_url(op, "mfeOperationResults"), "retry-after-ms": poll_ms(ready)})


def unknown_action(app: App, req: Request) -> Response:
    _existing(req, req.params["name"])
    raise ApiError(404, "NotFound", f"Unknown job action {req.parts[4]}.")


def put_job(app: App, req: Request) -> Response:
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
    job = {
        "id": f"{ws_id(ws)}/jobs/{name}", "name": name, "type": f"{PROVIDER}/workspaces/jobs",
        "properties": props,
        "_emu": {"created": now, "duration": app.job_duration, "error": error, "canceled_at": None},
    }
    ws["jobs"][name.lower()] = job
    return Response(201, job_body(app, ws, job))


def _check_pipeline(app: App, ws: dict, props: dict, runtime_errors: list[str]) -> None:
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


def run_details(app: App, req: Request) -> Response:
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
        err = job["_emu"]["error"] or {"code": "SystemError", "message": "The job failed."}
        body["error"] = {"error": {"code": err["code"], "message": err["message"]}}
    if status not in TERMINAL_JOB:
        # long-poll a little so a client that polls without sleeping does not spin
        app.lock.release()
        try:
            time.sleep(min(0.05, max(0.0, job["_emu"]["created"] + job["_emu"]["duration"] - time.time())))
        finally:
            app.lock.acquire()
    return Response(200, body)


def unknown_run_route(app: App, req: Request) -> Response:
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
