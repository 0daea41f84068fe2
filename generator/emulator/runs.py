"""The run history of jobs: a job's and its child runs' details, ``children``, and their logs.

Served as the service does to azure-ai-ml:

- ``GET history/v1.0/.../runs/<job>`` and ``.../details``: a job's own run (status, times, error and
  ``logFiles``), long-polling a little while the job runs;
- ``GET history/v1.0/.../runs/<id>/children`` (``jobs.list(parent_job_name=...)``);
- ``GET .../runs/<child>`` and ``.../details`` (through ``run_details``), and the MFE ``GET jobs/<child>``
  answering ``properties: null`` (through ``jobs.get_job``), which is how the SDK recognises a child job;
- ``logFiles``: the root's ``logs/azureml/executionlogs.txt`` (what ``jobs.stream`` prints), each step's
  ``user_logs/std_log.txt``, as blob SAS URLs of the artifact store whose content grows with the run.

The tree of a pipeline job's runs is ``runtree``'s; the text of a log is ``logs``'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Optional
from urllib.parse import quote

from .core import BLOB_ACCOUNT, PROVIDER, ApiError, Request, Response, add_routes, iso, not_found, system_data, ws_id
from .joblife import TERMINAL_JOB, job_error, job_status, job_times, timeline
from .logs import log_text
from .runtree import RunNode, Tree, build_tree, experiment_id, find_run, run_status, run_times
from .state import AppState

RUN = "history/runs/{run}"
LOG_PREFIX = f"/{BLOB_ACCOUNT}/azureml/ExperimentRun/dcid."
ROOT_LOG = "logs/azureml/executionlogs.txt"
STEP_LOG = "user_logs/std_log.txt"


# ------------------------------------------------------------------------------------------------ run bodies
def run_body(app: AppState, ws: dict, tree: Tree, run: RunNode) -> dict:
    """A run as the run history answers ``runs/<id>`` and ``runs/<id>/details``."""
    now = time.time()
    status = run_status(tree, run, now)
    start, end = run_times(tree, run, now)
    job, emu = tree.job, tree.job["_emu"]
    exp = job["properties"].get("experimentName") or "Default"
    body = {
        "runId": run.id, "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job['id']}/{run.id}")),
        "parentRunId": run.parent, "rootRunId": tree.root.id, "experimentId": experiment_id(ws, exp),
        "displayName": run.display, "name": run.display, "status": status,
        "createdUtc": iso(emu["created"]), "startTimeUtc": iso(start) if start else None,
        "endTimeUtc": iso(end) if end else None,
        "createdBy": {"userName": "emulator@amlgen.local", "userObjectId": "00000000-0000-0000-0000-0000000000aa",
                      "userTenantId": "00000000-0000-0000-0000-000000000001"},
        "runType": "azureml.PipelineRun" if run.kind != "step" else "azureml.StepRun",
        "target": run.compute if run.kind == "step" else None,
        "compute": {"target": run.compute, "targetType": "AmlCompute"} if run.kind == "step" else None,
        "properties": {"azureml.nodeid": run.node, "azureml.pipelinerunid": tree.root.id,
                       "azureml.pipeline": tree.root.id, "StepType": "PythonScriptStep" if run.kind == "step"
                       else "SubGraphCloudStep", "ComputeTargetType": "AmlCompute"},
        "tags": {}, "services": {}, "inputDatasets": [], "outputDatasets": [], "warnings": [],
        "logFiles": log_files(app, ws, tree, run), "revision": 1,
    }
    if status == "Failed":
        err = emu.get("error") or {"code": "SystemError", "message": "The job failed."}
        body["error"] = {"error": {"code": err["code"], "message": err["message"]}}
    return body


def child_details(app: AppState, req: Request) -> Response:
    """``GET runs/<child>`` / ``runs/<child>/details`` (called by ``run_details`` for a non-job id)."""
    found = find_run(req.ws, req.params["run"])
    if found is None:
        raise not_found("run", req.params["run"])
    return Response(200, run_body(app, req.ws, *found))


def children(app: AppState, req: Request) -> Response:
    """``GET runs/<id>/children``: the child runs (``jobs.list(parent_job_name=...)``)."""
    found = find_run(req.ws, req.params["run"])
    if found is None:
        raise not_found("run", req.params["run"])
    tree, run = found
    kids = [run_body(app, req.ws, tree, tree.runs[c.lower()]) for c in run.children]
    top = req.query.get("$top")
    if top and top.isdigit():
        kids = kids[: int(top)]
    return Response(200, {"value": kids, "continuationToken": None, "nextLink": None})


def child_job_body(app: AppState, ws: dict, name: str) -> Optional[dict]:
    """The MFE ``GET jobs/<child>`` answer: a job without properties (None when ``name`` is no child run)."""
    found = find_run(ws, name)
    if found is None or found[1].kind == "root":
        return None
    tree, run = found
    return {"id": f"{ws_id(ws)}/jobs/{run.id}", "name": run.id, "type": f"{PROVIDER}/workspaces/jobs",
            "properties": None, "systemData": system_data(tree.job["_emu"]["created"])}


# ------------------------------------------------------------------------------------------------------ logs
def _sign(app: AppState, path: str, expiry: str) -> str:
    mac = hmac.new(app.account_key.encode(), f"{path}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def log_files(app: AppState, ws: dict, tree: Tree, run: RunNode) -> dict:
    """``{log path: SAS URL}`` of a run (what ``logFiles`` of the run details holds)."""
    expiry = iso(time.time() + 3600).split(".")[0] + "Z"
    out = {}
    for name in (ROOT_LOG,) if run.kind != "step" else (STEP_LOG,):
        path = f"{LOG_PREFIX}{run.id}/{name}"
        query = f"sv=2019-07-07&sr=b&sp=r&se={quote(expiry)}&sig={quote(_sign(app, path, expiry), safe='')}"
        out[name] = f"{app.base_url.rstrip('/')}{path}?{query}"
    return out


def root_log_files(app: AppState, ws: dict, job: dict) -> dict:
    """The ``logFiles`` of a job's own run details (``run_details``)."""
    if job["properties"].get("jobType") != "Pipeline":
        return {}
    tree = build_tree(job)
    return log_files(app, ws, tree, tree.root)


def is_log_url(req: Request) -> bool:
    return req.path.startswith(LOG_PREFIX) and "sig" in req.query


def serve_log(app: AppState, req: Request) -> Response:
    """GET of a run's log through its SAS URL (403 for a bad signature or an expired one, 404 for no such log)."""
    if req.method not in ("GET", "HEAD"):
        return _blob_error(403, "AuthorizationPermissionMismatch", "The SAS only allows reading.")
    expiry = req.query.get("se", "")
    if not hmac.compare_digest(req.query.get("sig", ""), _sign(app, req.path, expiry)):
        return _blob_error(403, "AuthenticationFailed", "Signature did not match.")
    if expiry < iso(time.time()):
        return _blob_error(403, "AuthenticationFailed", "Signed expiry time has passed.")
    run_id, _, name = req.path[len(LOG_PREFIX):].partition("/")
    with app.lock:
        for ws in app.state["workspaces"].values():
            found = find_run(ws, run_id)
            if found is not None:
                break
        else:
            return _blob_error(404, "BlobNotFound", "The specified blob does not exist.")
        tree, run = found
        if name != (STEP_LOG if run.kind == "step" else ROOT_LOG):
            return _blob_error(404, "BlobNotFound", "The specified blob does not exist.")
        text = log_text(app, ws, tree, run)
    data = text.encode()
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(data)),
               "x-ms-blob-type": "AppendBlob"}
    return Response(200, b"" if req.method == "HEAD" else data, headers)


def _blob_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(status, body.encode(), {"x-ms-error-code": code, "Content-Type": "application/xml"})


# ---------------------------------------------------------------------------------------------- run history
def _run(req: Request) -> dict:
    job = req.ws["jobs"].get(req.params["run"].lower())
    if job is None:
        raise not_found("run", req.params["run"])
    return job


def run_details(app: AppState, req: Request) -> Response:
    """``GET .../runs/<job>`` and ``.../details``: status, times and error, long-polling a little."""
    if req.params["run"].lower() not in req.ws["jobs"]:  # a pipeline's child run
        return child_details(app, req)
    job = _run(req)
    status = job_status(job)
    start, end = job_times(job)
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
        _, _, end_at = timeline(job)
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
    (RUN, "GET", run_details),
    (RUN + "/details", "GET", run_details),
    (RUN + "/children", "GET", children),
    (RUN + "/*", "*", unknown_run_route),
)
