"""A pipeline job's run tree: its child runs, when each runs and how it ends (pure functions of the job).

A pipeline job (the root run) has one child run per node of its ``jobs``; a node that runs a registry pipeline
component (chat_completion_pipeline) has one child run per step of that component, as the published spec lists
them (``registry_seed.component_steps``: ft_nlp_common_validation, chat_completion_model_import,
chat_completion_datapreprocess, chat_completion_finetune, and the MLflow converter); any other node is itself a
step. The steps run one after another while the root is ``Running`` (30 %..100 % of ``job_duration``); when the
job fails, the failing step (the first one for a missing input path, the fine-tuning step for an injected
failure) ends ``Failed`` with the job and the steps after it end ``Canceled``; a canceled job cancels the
running and pending steps.

Run ids of children are GUIDs derived from the job's id and the node/step name (stable across restarts). The
run history (``runs``), the logs (``logs``), the metrics (``metrics``) and MLflow (``mlflow``) read the tree.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .joblife import TERMINAL_JOB, job_status
from .refs import REGISTRY_ASSET_URI
from .registry_seed import component_steps


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
        return "Canceled" if job_status(tree.job) in TERMINAL_JOB else "NotStarted"
    if run.end is None or now < run.end:
        return "Running"
    return "Failed" if run.fails else "Completed"


def run_times(tree: Tree, run: RunNode, now: Optional[float] = None) -> tuple[Optional[float], Optional[float]]:
    now = time.time() if now is None else now
    status = run_status(tree, run, now)
    start = run.start if run.start is not None and now >= run.start else None
    if status not in TERMINAL_JOB:
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
