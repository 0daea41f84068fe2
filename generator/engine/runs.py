"""Watch a pipeline job like the notebook does: its child steps, their logs, and the metrics they logged.

Everything goes through ``generator.workspace`` (``Workspace.call``):

- steps: ``jobs.list(parent_job_name=...)`` of the SDK, twice (the job's children are its pipeline nodes; a node
  running a pipeline component has the component's steps as children) -> ``list_steps``;
- logs: the run history's ``runs/<id>/details`` (``logFiles``: the job's ``logs/azureml/executionlogs.txt``, a
  step's ``user_logs/std_log.txt``), each file read through its SAS URL -> ``read_log`` / ``follow_log``;
- metrics: the workspace's MLflow tracking server, as the notebook's ``mlflow.search_runs`` reads it
  (``experiments/get-by-name``, ``runs/search`` with ``tags.mlflow.rootRunId = '<job>'``,
  ``metrics/get-history``) -> ``job_metrics`` / ``latest_metrics``.

The REST hosts come from the workspace: the discovery document's ``api`` URL (where the SDK sends run-history
calls) and the path of its ``mlflow_tracking_uri`` (``azureml://<region>.api.azureml.ms/mlflow/v1.0/...``, whose
host is that same ``api`` host), called with the workspace's credential (``Workspace.rest``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from ..errors import AzureError, ConfigError
from ..workspace import TERMINAL_JOB, Workspace

ROOT_LOG = "logs/azureml/executionlogs.txt"
STEP_LOGS = ("user_logs/std_log.txt",)


@dataclass
class Step:
    """One step of a pipeline job (a leaf of its run tree)."""

    name: str  # the step's name in its pipeline component (the run's display name)
    run_id: str
    status: str
    node: str  # the pipeline node it belongs to ('' for a node that is itself a step)


@dataclass
class RunMetrics:
    step: str
    run_id: str
    status: str
    metrics: dict[str, float]
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class JobMetrics:
    job: str
    status: str
    runs: list[RunMetrics]

    def latest(self) -> dict[str, float]:
        """Every metric's final value across the runs (a step's own name wins over a later duplicate)."""
        out: dict[str, float] = {}
        for run in self.runs:
            for key, value in run.metrics.items():
                out.setdefault(key, value)
        return out


# ------------------------------------------------------------------------------------------------------ steps
def job_status(ws: Workspace, job_name: str) -> str:
    """The job's status; an ``AzureError`` naming the command to run when it has not been submitted."""
    from azure.core.exceptions import ResourceNotFoundError

    def get() -> Any:
        try:
            return ws.client.jobs.get(job_name)
        except ResourceNotFoundError:
            return None

    job = ws.call("job", job_name, "read", get)
    if job is None:
        raise AzureError(f"job '{job_name}': it has not been submitted to {ws.label}: run `amlgen apply` first")
    return _status(job.status)


def _status(value: Any) -> str:
    return str(getattr(value, "value", value))  # the SDK answers a JobStatus enum (a str) or a plain string


def list_steps(ws: Workspace, job_name: str) -> list[Step]:
    """The steps of a pipeline job with their status, in execution order (for ``apply``'s progress display)."""
    def children(run_id: str) -> list[Any]:
        return list(ws.client.jobs.list(parent_job_name=run_id))

    steps: list[Step] = []
    for node in ws.call("job", job_name, "list the steps of", lambda: children(job_name)):
        inner = ws.call("job", job_name, "list the steps of", lambda n=node: children(n.name))
        if inner:
            steps += [Step(s.display_name or s.name, s.name, _status(s.status), node.display_name or "") for s in inner]
        else:
            steps.append(Step(node.display_name or node.name, node.name, _status(node.status), ""))
    return steps


def find_step(steps: list[Step], wanted: str) -> Step:
    """A step by its name, or by a part of it that only one step has (``finetune``)."""
    exact = [s for s in steps if s.name == wanted or s.run_id == wanted]
    loose = [s for s in steps if wanted.lower() in s.name.lower()]
    if exact or len(loose) == 1:
        return (exact or loose)[0]
    names = ", ".join(s.name for s in steps) or "none yet"
    what = "matches more than one step" if loose else "is not a step of the job"
    raise ConfigError(f"--step {wanted!r} {what} (steps: {names})")


# ------------------------------------------------------------------------------------------------------- REST
class Services:
    """The run-history and MLflow base URLs of a workspace (read once)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        c = ws.client
        name = c.workspace_name
        entity = ws.call("workspace", name, "read", lambda: c.workspaces.get(name))
        discovery = ws.call("workspace", name, "read the discovery document of",
                            lambda: ws.rest("GET", entity.discovery_url, auth=False))
        api = str((discovery or {}).get("api") or "").rstrip("/")
        if not api:
            raise AzureError(f"workspace '{name}': its discovery document names no 'api' URL")
        arm = (f"/subscriptions/{c.subscription_id}/resourceGroups/{c.resource_group_name}/providers/"
               f"Microsoft.MachineLearningServices/workspaces/{name}")
        self.history = f"{api}/history/v1.0{arm}"
        tracking = urlsplit(str(entity.mlflow_tracking_uri or "")).path or f"/mlflow/v1.0{arm}"
        self.mlflow = f"{api}{tracking.rstrip('/')}/api/2.0/mlflow"

    def details(self, run_id: str) -> dict:
        return self.ws.call("run", run_id, "read", lambda: self.ws.rest("GET", f"{self.history}/runs/{run_id}/details"))

    def log_text(self, run_id: str) -> tuple[str, str]:
        """(log name, text) of a run's main log ('' when it has none yet)."""
        files = self.details(run_id).get("logFiles") or {}
        name = next((n for n in (ROOT_LOG, *STEP_LOGS) if n in files), None)
        if name is None:
            return "", ""
        return name, self.ws.call("run", run_id, "read the log of",
                                  lambda: self.ws.rest("GET", files[name], auth=False, raw=True))

    def mlflow_get(self, route: str, **query: str) -> Any:
        url = f"{self.mlflow}/{route}?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())
        return self.ws.call("mlflow", route, "read", lambda: self.ws.rest("GET", url))

    def mlflow_post(self, route: str, body: dict) -> Any:
        return self.ws.call("mlflow", route, "read", lambda: self.ws.rest("POST", f"{self.mlflow}/{route}",
                                                                           json_body=body))


# ------------------------------------------------------------------------------------------------------- logs
def read_log(ws: Workspace, job_name: str, step: str | None = None) -> tuple[str, str, str]:
    """(log name, text, status) of the job's execution log, or of one step's log (status: the job's or the
    step's)."""
    status = job_status(ws, job_name)
    if step:
        found = find_step(list_steps(ws, job_name), step)
        run_id, status = found.run_id, found.status
    else:
        run_id = job_name
    name, text = Services(ws).log_text(run_id)
    return name, text, status


def follow_log(ws: Workspace, job_name: str, step: str | None, emit: Callable[[str], None], *,
               poll_interval: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> str:
    """Print the log's lines as they come until the job (or the step) ends; returns the final status."""
    services = Services(ws)
    printed = 0
    while True:
        status = job_status(ws, job_name)
        run_id, run_status = job_name, status
        if step:
            found = find_step(list_steps(ws, job_name), step)
            run_id, run_status = found.run_id, found.status
        _, text = services.log_text(run_id)
        lines = text.splitlines()
        for line in lines[printed:]:
            emit(line)
        printed = max(printed, len(lines))
        if run_status in TERMINAL_JOB or status in TERMINAL_JOB:
            _, text = services.log_text(run_id)  # the lines written at the very end
            for line in text.splitlines()[printed:]:
                emit(line)
            return run_status
        sleep(poll_interval)


# ---------------------------------------------------------------------------------------------------- metrics
def job_metrics(ws: Workspace, job_name: str, *, history: bool = True) -> JobMetrics:
    """The metrics every run of the job logged (``runs/search`` by root run, as the notebook reads them)."""
    status = job_status(ws, job_name)
    experiment = ws.call("job", job_name, "read", lambda: ws.client.jobs.get(job_name)).experiment_name
    services = Services(ws)
    exp = services.mlflow_get("experiments/get-by-name", experiment_name=experiment)["experiment"]
    runs, token = [], None
    while True:
        body: dict[str, Any] = {"experiment_ids": [exp["experiment_id"]], "max_results": 1000,
                                "filter": f"tags.mlflow.rootRunId = '{job_name}'"}
        if token:
            body["page_token"] = token
        page = services.mlflow_post("runs/search", body) or {}
        runs += page.get("runs") or []
        token = page.get("next_page_token")
        if not token:
            break
    out = []
    for run in sorted(runs, key=lambda r: (r["info"].get("start_time") or 0, r["info"]["run_id"])):
        metrics = {m["key"]: m["value"] for m in (run.get("data") or {}).get("metrics") or []}
        if not metrics:
            continue
        info = run["info"]
        rm = RunMetrics(info.get("run_name") or info["run_id"], info["run_id"], info.get("status", ""), metrics)
        if history:
            for key in sorted(metrics):
                points = services.mlflow_get("metrics/get-history", run_id=info["run_id"], metric_key=key)
                rm.history[key] = [{"step": p.get("step"), "value": p.get("value"), "timestamp": p.get("timestamp")}
                                   for p in (points or {}).get("metrics") or []]
        out.append(rm)
    return JobMetrics(job_name, status, out)


def latest_metrics(ws: Workspace, job_name: str) -> dict[str, float]:
    """Every metric's final value (for a promotion gate such as ``eval_loss <= 1.2``)."""
    return job_metrics(ws, job_name, history=False).latest()


def format_metrics(result: JobMetrics, style: str = "text") -> str:
    if style == "json":
        return json.dumps({"job": result.job, "status": result.status, "runs": [asdict(r) for r in result.runs]},
                          indent=2) + "\n"
    if not result.runs:
        return f"Job {result.job} ({result.status}): no metrics logged yet\n"
    if style == "markdown":
        lines = [f"**Job `{result.job}`** ({result.status})", "", "| step | metric | value |", "|---|---|---|"]
        lines += [f"| {r.step} | {k} | {_num(v)} |" for r in result.runs for k, v in sorted(r.metrics.items())]
        return "\n".join(lines) + "\n"
    lines = [f"Job {result.job} ({result.status})"]
    for r in result.runs:
        lines.append(f"  {r.step} ({r.status.lower()})")
        width = max(len(k) for k in r.metrics)
        lines += [f"    {k.ljust(width)}  {_num(v)}" for k, v in sorted(r.metrics.items())]
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
