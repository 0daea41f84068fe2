"""The workspace's MLflow tracking server (the REST API the MLflow client and azureml-mlflow call).

Base: ``<api host>/mlflow/v1.0/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/
workspaces/<ws>`` (the path of the workspace's ``mlFlowTrackingUri`` / a job's ``services.Tracking.endpoint``;
the host is the discovery ``api`` URL). Routes under ``api/2.0/mlflow/``:

- ``GET experiments/get-by-name?experiment_name=``, ``GET experiments/get?experiment_id=``,
  ``POST experiments/search``: an experiment per ``experiment_name`` of the workspace's jobs;
- ``GET runs/get?run_id=``, ``POST runs/search`` (``experiment_ids``, ``filter`` with ``AND``-joined
  ``tags.<k>``/``attributes.<k>``/``params.<k>``/``metrics.<k>`` comparisons, ``max_results``, ``page_token``,
  ``order_by`` on ``attributes.start_time``): every run of every job -- a job's run id is its name, its child
  runs' ids are their GUIDs; tags ``mlflow.runName``, ``mlflow.rootRunId``, ``mlflow.parentRunId`` (what the
  notebook filters on: ``tags.mlflow.rootRunId = '<job>'``);
- ``GET metrics/get-history?run_id=&metric_key=``: the metric's points logged so far (``metrics``).

Errors are MLflow's ``{"error_code": "RESOURCE_DOES_NOT_EXIST" | "INVALID_PARAMETER_VALUE" |
"ENDPOINT_NOT_FOUND", "message": ...}``.
"""

from __future__ import annotations

import re
import time
from typing import Any, Optional

from .core import Request, Response, add_routes
from .metrics import finetune_params, is_finetune, run_points, visible
from .runtree import RunNode, Tree, build_tree, experiment_id, find_run, run_status, run_times
from .state import AppState

BASE = ("mlflow/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/"
        "workspaces/{ws}/api/2.0/mlflow")
MLFLOW_STATUS = {"NotStarted": "SCHEDULED", "Queued": "SCHEDULED", "Running": "RUNNING",
                 "CancelRequested": "RUNNING", "Completed": "FINISHED", "Failed": "FAILED", "Canceled": "KILLED"}
_CLAUSE = re.compile(
    r"^\s*(?P<entity>tags|tag|attributes|attribute|attr|run|params|param|parameters|metrics|metric)\."
    r"(?P<key>`[^`]+`|\"[^\"]+\"|[\w.\-:/]+)\s*(?P<op>!=|>=|<=|=|>|<|LIKE|ILIKE)\s*"
    r"(?P<value>'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$",
    re.I,
)


class MlflowError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return Response(self.status, {"error_code": self.code, "message": self.message})


def _ws(app: AppState, req: Request) -> dict:
    p = req.params
    return app.workspace(p["sub"], p["rg"], p["ws"])


def _handler(fn):
    def handle(app: AppState, req: Request) -> Response:
        try:
            return fn(app, req, _ws(app, req))
        except MlflowError as err:
            return err.response()

    return handle


# ------------------------------------------------------------------------------------------------- experiments
def _experiments(ws: dict) -> dict[str, dict]:
    """``{experiment_id: experiment}`` of the workspace's jobs."""
    out: dict[str, dict] = {}
    for job in sorted(ws["jobs"].values(), key=lambda j: j["_emu"]["created"]):
        name = job["properties"].get("experimentName") or "Default"
        eid = experiment_id(ws, name)
        ms = int(job["_emu"]["created"] * 1000)
        exp = out.setdefault(eid, {"experiment_id": eid, "name": name, "artifact_location": "",
                                   "lifecycle_stage": "active", "creation_time": ms, "last_update_time": ms,
                                   "tags": []})
        exp["last_update_time"] = ms
    return out


def get_by_name(app: AppState, req: Request, ws: dict) -> Response:
    name = req.query.get("experiment_name")
    if not name:
        raise MlflowError(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'experiment_name'.")
    for exp in _experiments(ws).values():
        if exp["name"] == name:
            return Response(200, {"experiment": exp})
    raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")


def get_experiment(app: AppState, req: Request, ws: dict) -> Response:
    exp = _experiments(ws).get(str(req.query.get("experiment_id")))
    if exp is None:
        raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={req.query.get('experiment_id')} exists")
    return Response(200, {"experiment": exp})


def search_experiments(app: AppState, req: Request, ws: dict) -> Response:
    return Response(200, {"experiments": list(_experiments(ws).values())})


# -------------------------------------------------------------------------------------------------------- runs
def _ms(t: Optional[float]) -> Optional[int]:
    return int(t * 1000) if t is not None else None


def run_view(app: AppState, ws: dict, tree: Tree, run: RunNode, now: float) -> dict:
    """A run as MLflow answers it (latest value of each metric logged so far)."""
    status = run_status(tree, run, now)
    start, end = run_times(tree, run, now)
    latest: dict[str, dict] = {}
    for point, t in visible(tree, run, run_points(app, tree, run), now):
        latest[point.key] = {"key": point.key, "value": point.value, "timestamp": _ms(t), "step": point.step}
    tags = {"mlflow.runName": run.display, "mlflow.rootRunId": tree.root.id, "mlflow.user": "amlgen emulator",
            "azureml.nodeid": run.node}
    if run.parent:
        tags["mlflow.parentRunId"] = run.parent
    params = finetune_params(tree, run) if is_finetune(run) else {}
    exp = tree.job["properties"].get("experimentName") or "Default"
    info = {"run_id": run.id, "run_uuid": run.id, "run_name": run.display,
            "experiment_id": experiment_id(ws, exp), "user_id": "emulator@amlgen.local",
            "status": MLFLOW_STATUS.get(status, "RUNNING"), "start_time": _ms(start or tree.job["_emu"]["created"]),
            "artifact_uri": f"azureml://experiments/{exp}/runs/{run.id}/artifacts", "lifecycle_stage": "active"}
    if end is not None:
        info["end_time"] = _ms(end)
    return {"info": info, "data": {"metrics": list(latest.values()),
                                   "params": [{"key": k, "value": v} for k, v in params.items()],
                                   "tags": [{"key": k, "value": v} for k, v in tags.items()]},
            "inputs": {}}


def get_run(app: AppState, req: Request, ws: dict) -> Response:
    run_id = req.query.get("run_id") or req.query.get("run_uuid")
    if not run_id:
        raise MlflowError(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'.")
    found = find_run(ws, run_id)
    if found is None:
        raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{run_id}' not found.")
    return Response(200, {"run": run_view(app, ws, *found, time.time())})


def parse_filter(text: str) -> list[tuple[str, str, str, Any]]:
    """``tags.k = 'v' AND metrics.m > 1`` -> ``[(entity, key, op, value)]`` (400 on anything else)."""
    if not text or not text.strip():
        return []
    out = []
    for clause in re.split(r"\s+and\s+(?=(?:[^'\"]*['\"][^'\"]*['\"])*[^'\"]*$)", text.strip(), flags=re.I):
        m = _CLAUSE.match(clause)
        if not m:
            raise MlflowError(400, "INVALID_PARAMETER_VALUE", f"Invalid filter clause '{clause.strip()}'.")
        entity = {"tag": "tags", "attribute": "attributes", "attr": "attributes", "run": "attributes",
                  "param": "params", "parameters": "params", "metric": "metrics"}.get(m["entity"].lower(),
                                                                                         m["entity"].lower())
        key = m["key"].strip("`\"")
        raw = m["value"]
        value: Any = raw[1:-1] if raw[0] in "'\"" else float(raw)
        if entity == "metrics" and isinstance(value, str):
            raise MlflowError(400, "INVALID_PARAMETER_VALUE", f"Metric '{key}' must be compared with a number.")
        out.append((entity, key, m["op"].upper(), value))
    return out


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if actual is None:
        return False
    if op in ("LIKE", "ILIKE"):
        pattern = "^" + re.escape(str(expected)).replace("%", ".*").replace("_", ".") + "$"
        return re.match(pattern, str(actual), re.I if op == "ILIKE" else 0) is not None
    if isinstance(expected, float):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    else:
        actual = str(actual)
    return {"=": actual == expected, "!=": actual != expected, ">": actual > expected, ">=": actual >= expected,
            "<": actual < expected, "<=": actual <= expected}[op]


def _matches(view: dict, clauses: list) -> bool:
    info, data = view["info"], view["data"]
    for entity, key, op, value in clauses:
        if entity == "tags":
            actual = next((t["value"] for t in data["tags"] if t["key"] == key), None)
        elif entity == "params":
            actual = next((p["value"] for p in data["params"] if p["key"] == key), None)
        elif entity == "metrics":
            actual = next((p["value"] for p in data["metrics"] if p["key"] == key), None)
        else:
            actual = {"run_name": info["run_name"], "status": info["status"], "run_id": info["run_id"],
                      "start_time": info["start_time"], "end_time": info.get("end_time")}.get(key)
        if not _compare(actual, op, value):
            return False
    return True


def search_runs(app: AppState, req: Request, ws: dict) -> Response:
    data = req.data if isinstance(req.data, dict) else {}
    wanted = {str(e) for e in data.get("experiment_ids") or []}
    clauses = parse_filter(str(data.get("filter") or ""))
    try:
        limit = int(data.get("max_results") or 1000)
        offset = int(data.get("page_token") or 0)
    except (TypeError, ValueError):
        raise MlflowError(400, "INVALID_PARAMETER_VALUE", "max_results and page_token must be integers.") from None
    now = time.time()
    views = []
    for job in ws["jobs"].values():
        exp = experiment_id(ws, job["properties"].get("experimentName") or "Default")
        if wanted and exp not in wanted:
            continue
        tree = build_tree(job)
        for run in tree.runs.values():
            view = run_view(app, ws, tree, run, now)
            if _matches(view, clauses):
                views.append(view)
    asc = any("start_time" in str(o) and str(o).strip().lower().endswith("asc") for o in data.get("order_by") or [])
    views.sort(key=lambda v: (v["info"]["start_time"], v["info"]["run_id"]), reverse=not asc)
    page = views[offset: offset + limit]
    body: dict = {"runs": page}
    if offset + limit < len(views):
        body["next_page_token"] = str(offset + limit)
    return Response(200, body)


def metric_history(app: AppState, req: Request, ws: dict) -> Response:
    run_id, key = req.query.get("run_id") or req.query.get("run_uuid"), req.query.get("metric_key")
    if not run_id or not key:
        raise MlflowError(400, "INVALID_PARAMETER_VALUE", "run_id and metric_key are required.")
    found = find_run(ws, run_id)
    if found is None:
        raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{run_id}' not found.")
    tree, run = found
    points = [{"key": p.key, "value": p.value, "timestamp": _ms(t), "step": p.step}
              for p, t in visible(tree, run, run_points(app, tree, run), time.time()) if p.key == key]
    return Response(200, {"metrics": points})


def _no_endpoint(app: AppState, req: Request) -> Response:
    return Response(404, {"error_code": "ENDPOINT_NOT_FOUND",
                          "message": f"No MLflow route {req.method} {'/'.join(req.parts[11:])} in the emulator."})


add_routes(
    (BASE + "/experiments/get-by-name", "GET", _handler(get_by_name)),
    (BASE + "/experiments/get", "GET", _handler(get_experiment)),
    (BASE + "/experiments/search", "POST", _handler(search_experiments)),
    (BASE + "/experiments/search", "GET", _handler(search_experiments)),
    (BASE + "/runs/get", "GET", _handler(get_run)),
    (BASE + "/runs/search", "POST", _handler(search_runs)),
    (BASE + "/metrics/get-history", "GET", _handler(metric_history)),
    ("mlflow/*", "*", _no_endpoint),
)
