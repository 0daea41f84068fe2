"""Pipeline and command jobs: submission, reads, lists and their cancel LRO.

A job PUT answers **201** + ``Location`` (no LRO header) with status ``NotStarted`` (fact 31). A job then lives
in time (``joblife``: its status, scripts); once running the service's ``azureml.*`` run properties appear, and
a pipeline gets ``azureml.pipelines.stages`` when it ends (fact 32). Its run history is ``runs``'.
"""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any, Optional

from .core import (
    PROVIDER,
    ApiError,
    Request,
    Response,
    add_routes,
    bad,
    fault_error,
    iso,
    not_found,
    poll_ms,
    public,
    refuse,
    ws_id,
)
from .joblife import TERMINAL_JOB, computes_of, job_status, job_times, script_for
from .operations import lro, op_url, resource_url
from .refs import asset_ref_ok, component_ref_ok, compute_ref_ok
from .runs import child_job_body
from .state import AppState
from .workspace import WS

JOBS = WS + "/jobs"
JOB = JOBS + "/{name}"
_JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")

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
            start, end = job_times(job)
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
    script = script_for(app, name)
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


add_routes(
    (JOBS, "GET", list_jobs),
    (JOBS, "*", refuse(405, "MethodNotAllowed", "{method} not supported on jobs.")),
    (JOB, "GET", get_job),
    (JOB, "PUT", put_job),
    (JOB, "DELETE", refuse(405, "MethodNotAllowed", "Jobs cannot be deleted; archive them instead.")),
    (JOB, "*", refuse(405, "MethodNotAllowed", "{method} not supported on jobs.")),
    (JOB + "/cancel", "POST", cancel_job),
    (JOB + "/*", "*", unknown_action),
)
