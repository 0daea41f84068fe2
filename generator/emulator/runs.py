"""A pipeline job's child runs in the run history: the tree, statuses following the job's life, and logs.

A pipeline job (the root run) has one child run per node of its ``jobs``; a node that runs a registry pipeline
component (chat_completion_pipeline) has one child run per step of that component, as the published spec lists
them (``registry_seed.component_steps``: ft_nlp_common_validation, chat_completion_model_import,
chat_completion_datapreprocess, chat_completion_finetune, and the MLflow converter); any other node is itself a
step. The steps run one after another while the root is ``Running`` (30 %..100 % of ``job_duration``); when the
job fails, the failing step (the first one for a missing input path, the fine-tuning step for an injected
failure) ends ``Failed`` with the job and the steps after it end ``Canceled``; a canceled job cancels the
running and pending steps.

Served as the service does to azure-ai-ml:

- ``GET history/v1.0/.../runs/<id>/children`` (``jobs.list(parent_job_name=...)``);
- ``GET .../runs/<child>`` and ``.../details`` (through ``jobs.run_details``), and the MFE ``GET jobs/<child>``
  answering ``properties: null`` (through ``jobs.get_job``), which is how the SDK recognises a child job;
- ``logFiles``: the root's ``logs/azureml/executionlogs.txt`` (what ``jobs.stream`` prints), each step's
  ``user_logs/std_log.txt``, as blob SAS URLs of the artifact store whose content grows with the run.

Run ids of children are GUIDs derived from the job's id and the node/step name (stable across restarts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote

from .core import BLOB_ACCOUNT, PROVIDER, Request, Response, add_routes, iso, not_found, system_data, ws_id
from .jobs import job_status
from .state import AppState

RUN = "history/runs/{run}"
LOG_PREFIX = f"/{BLOB_ACCOUNT}/azureml/ExperimentRun/dcid."
ROOT_LOG = "logs/azureml/executionlogs.txt"
STEP_LOG = "user_logs/std_log.txt"
TERMINAL = ("Completed", "Failed", "Canceled")


@dataclass
class RunNode:
    """One run of a pipeline job's tree (the root, a pipeline node, or a step)."""

    id: str
    display: str
    parent: Optional[str]
    kind: str  # "root" | "pipeline" | "step"
    node: str = ""  # the pipeline node (``jobs.<node>``) this run belongs to
    step: Optional[dict] = None  # the component step (name, component, compute_input) of a step run
    compute: str = "serverless"
    start: Optional[float] = None  # when it starts Running (None: never)
    end: Optional[float] = None  # when it ends (None: never on its own)
    fails: bool = False
    children: list[str] = field(default_factory=list)


@dataclass
class Tree:
    job: dict
    root: RunNode
    runs: dict[str, RunNode]  # lower-case id -> run
    steps: list[RunNode]  # the step runs, in execution order


# ------------------------------------------------------------------------------------------------- the tree
def _literal(inputs: dict, name: str) -> Optional[str]:
    inp = (inputs or {}).get(name)
    if isinstance(inp, dict) and inp.get("value") is not None:
        return str(inp["value"])
    return None


def resolve_input(job: dict, node: dict, name: str) -> Optional[str]:
    """A node input's literal value, following one ``${{parent.inputs.x}}`` binding to the job's inputs."""
    value = _literal(node.get("inputs") or {}, name)
    if value is None:
        return None
    if value.startswith("${{") and "parent.inputs." in value:
        return _literal(job["properties"].get("inputs") or {}, value.split("parent.inputs.", 1)[1].rstrip("} "))
    return value


def _component_steps(node: dict) -> list[dict]:
    from .refs import REGISTRY_ASSET_URI
    from .registry_seed import component_steps

    m = REGISTRY_ASSET_URI.match(str(node.get("componentId") or ""))
    if not m or m["kind"].lower() != "components" or m["sel"].lower() != "versions":
        return []
    return component_steps(m["name"], m["ver"])


def _child_id(job: dict, *names: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join([job["id"].lower(), *names])))


def build_tree(job: dict) -> Tree:
    """The run tree of a pipeline job with each run's start/end (a pure function of the job record)."""
    props, emu = job["properties"], job["_emu"]
    root = RunNode(job["name"], props.get("displayName") or job["name"], None, "root")
    runs = {root.id.lower(): root}
    steps: list[RunNode] = []
    nodes = (props.get("jobs") or {}) if props.get("jobType") == "Pipeline" else {}
    for node_name, node in nodes.items():
        node = node if isinstance(node, dict) else {}
        comp_steps = _component_steps(node)
        compute = str(node.get("computeId") or "serverless").rsplit("/", 1)[-1]
        if comp_steps:
            parent = RunNode(_child_id(job, node_name), node_name, root.id, "pipeline", node_name)
            runs[parent.id.lower()] = parent
            root.children.append(parent.id)
            for step in comp_steps:
                target = resolve_input(job, node, step["compute_input"]) if step.get("compute_input") else None
                run = RunNode(_child_id(job, node_name, step["name"]), step["name"], parent.id, "step", node_name,
                              step, target or compute)
                parent.children.append(run.id)
                runs[run.id.lower()] = run
                steps.append(run)
        else:
            run = RunNode(_child_id(job, node_name), node_name, root.id, "step", node_name, None, compute)
            root.children.append(run.id)
            runs[run.id.lower()] = run
            steps.append(run)
    created, duration = emu["created"], emu["duration"]
    failing = None
    if emu.get("error") and steps:
        finetune = [i for i, s in enumerate(steps) if "finetune" in s.display]
        injected = emu["error"].get("code") == "InjectedFailure"
        failing = (finetune[0] if finetune else len(steps) - 1) if injected else 0
    count = (failing + 1) if failing is not None else len(steps)
    window = 0.7 * duration / max(count, 1)
    for i, run in enumerate(steps[:count]):
        run.start = created + 0.3 * duration + i * window
        run.end = run.start + window
        run.fails = i == failing
    for parent in (r for r in runs.values() if r.kind == "pipeline"):
        kids = [runs[c.lower()] for c in parent.children]
        started = [k for k in kids if k.start is not None]
        parent.start = started[0].start if started else None
        parent.end = started[-1].end if started and (len(started) == len(kids) or started[-1].fails) else None
        parent.fails = any(k.fails for k in kids)
    root.start, root.end = created + 0.3 * duration, created + duration
    return Tree(job, root, runs, steps)


def run_status(tree: Tree, run: RunNode, now: Optional[float] = None) -> str:
    """The status of a run of the tree at ``now``."""
    now = time.time() if now is None else now
    if run.kind == "root":
        return job_status(tree.job)
    canceled = tree.job["_emu"].get("canceled_at")
    if canceled is not None and now >= canceled:
        if run.end is not None and run.end <= canceled:
            return "Failed" if run.fails else "Completed"
        return "Canceled"
    if run.start is None or now < run.start:
        return "Canceled" if job_status(tree.job) in TERMINAL else "NotStarted"
    if run.end is None or now < run.end:
        return "Running"
    return "Failed" if run.fails else "Completed"


def run_times(tree: Tree, run: RunNode, now: Optional[float] = None) -> tuple[Optional[float], Optional[float]]:
    now = time.time() if now is None else now
    status = run_status(tree, run, now)
    start = run.start if run.start is not None and now >= run.start else None
    if status not in TERMINAL:
        return start, None
    canceled = tree.job["_emu"].get("canceled_at")
    end = run.end if run.end is not None and (canceled is None or run.end <= canceled) else canceled
    return start, end if end is not None else run.end


def find_run(ws: dict, run_id: str) -> Optional[tuple[Tree, RunNode]]:
    """The (tree, run) of a run id in a workspace: a job name or a child run's GUID."""
    low = run_id.lower()
    job = ws["jobs"].get(low)
    if job is not None:
        tree = build_tree(job)
        return tree, tree.root
    for job in ws["jobs"].values():
        if job["properties"].get("jobType") != "Pipeline":
            continue
        tree = build_tree(job)
        if low in tree.runs:
            return tree, tree.runs[low]
    return None


def experiment_id(ws: dict, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ws['workspace_id']}/experiments/{name}"))


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
    """``GET runs/<child>`` / ``runs/<child>/details`` (called by ``jobs.run_details`` for a non-job id)."""
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
        from .logs import log_text

        text = log_text(app, ws, tree, run)
    data = text.encode()
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(data)),
               "x-ms-blob-type": "AppendBlob"}
    return Response(200, b"" if req.method == "HEAD" else data, headers)


def _blob_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(status, body.encode(), {"x-ms-error-code": code, "Content-Type": "application/xml"})


add_routes(
    (RUN + "/children", "GET", children),
)


def root_log_files(app: AppState, ws: dict, job: dict) -> dict:
    """The ``logFiles`` of a job's own run details (called by ``jobs.run_details``)."""
    if job["properties"].get("jobType") != "Pipeline":
        return {}
    tree = build_tree(job)
    return log_files(app, ws, tree, tree.root)
