"""Metrics of a pipeline job's steps: deterministic, derived from the job's inputs, overridable per job.

The fine-tuning step (``chat_completion_finetune``) logs what the Hugging Face Trainer logs through MLflow:
every training step ``loss``, ``learning_rate``, ``grad_norm`` and ``epoch``; at the end of each epoch
``eval_loss``, ``eval_runtime``, ``eval_samples_per_second`` and ``eval_steps_per_second``; at the end
``train_loss``, ``train_runtime``, ``train_samples_per_second``, ``train_steps_per_second`` and ``total_flos``.
(The published chat_completion_pipeline has no evaluation step: model_prediction/compute_metrics are commented
out of both 0.0.51 and 0.0.82.) The other steps log no metrics.

The values are a pure function of the step's resolved inputs (learning_rate, num_train_epochs, batch size,
gradient accumulation, scheduler, warmup, LoRA, seed, model and data): changing a fine-tuning parameter changes
them. The learning-rate curve follows the scheduler; the loss falls faster and lower the closer the learning rate
is to 2e-5 and with more epochs. Points appear while the step runs (spread over its time window); a failing step
stops logging at 60 % and logs no summary.

``set_overrides(app, job, {"eval_loss": 0.4}, step=None)`` (``Emulator.set_metrics``, ``POST /_emulator/metrics``)
replaces the final value of metrics of a job's fine-tuning step, or of the step named ``step`` (for tests of a
promotion gate); a metric the step does not log is added to it as one point at its end. The job need not exist
yet; None removes an override.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, NamedTuple, Optional

from .core import Request, Response, add_routes, bad
from .errors import EmulatorError
from .refs import REGISTRY_ASSET_URI
from .registry_seed import components
from .runtree import RunNode, Tree, resolve_input
from .state import AppState

FINETUNE_PARAMS = {  # input -> value when neither the job nor the component sets it
    "learning_rate": "2e-05", "num_train_epochs": "1", "per_device_train_batch_size": "1",
    "gradient_accumulation_steps": "1", "lr_scheduler_type": "linear", "warmup_steps": "0", "apply_lora": "true",
    "lora_r": "8", "lora_alpha": "128", "seed": "42", "max_seq_length": "-1", "precision": "32",
}
DATA_INPUTS = ("mlflow_model_path", "pytorch_model_path", "train_file_path", "validation_file_path", "test_file_path")


class Point(NamedTuple):
    key: str
    value: float
    step: int
    at: float  # fraction of the step's time window at which it is logged (0, 1]


def is_finetune(run: RunNode) -> bool:
    return run.kind == "step" and "finetune" in run.display


def _component_default(node: dict, name: str) -> Optional[str]:
    m = REGISTRY_ASSET_URI.match(str(node.get("componentId") or ""))
    if not m:
        return None
    spec = components().get(m["name"], {}).get(m["ver"])
    default = ((spec or {}).get("inputs") or {}).get(name, {}).get("default")
    return None if default is None else str(default)


def finetune_params(tree: Tree, run: RunNode) -> dict[str, str]:
    """The inputs the fine-tuning step ran with: the job's values, else the component's defaults."""
    node = (tree.job["properties"].get("jobs") or {}).get(run.node) or {}
    out = {}
    for name, fallback in FINETUNE_PARAMS.items():
        value = resolve_input(tree.job, node, name)
        out[name] = value if value is not None and "${{" not in value else (_component_default(node, name)
                                                                               or fallback)
    return out


def _data_refs(tree: Tree, run: RunNode) -> dict[str, str]:
    node = (tree.job["properties"].get("jobs") or {}).get(run.node) or {}
    out = {}
    for name in DATA_INPUTS:
        inp = (node.get("inputs") or {}).get(name) or {}
        ref = inp.get("uri") or inp.get("value")
        if isinstance(ref, str) and "parent.inputs." in ref:
            parent = (tree.job["properties"].get("inputs") or {}).get(ref.split("parent.inputs.", 1)[1].rstrip("} "))
            ref = (parent or {}).get("uri") or (parent or {}).get("value")
        if ref:
            out[name] = str(ref)
    return out


def _num(text: str, default: float) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def training_points(params: dict[str, str], seed: bytes) -> list[Point]:
    """Every metric point of a fine-tuning run, in logging order."""

    def u(i: int) -> float:
        return int.from_bytes(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()[:8], "big") / 2 ** 64

    epochs = max(1, min(50, int(_num(params["num_train_epochs"], 1))))
    batch = max(1, int(_num(params["per_device_train_batch_size"], 1)))
    accum = max(1, int(_num(params["gradient_accumulation_steps"], 1)))
    per_epoch = max(2, min(20, 64 // (batch * accum)))
    total = epochs * per_epoch
    lr = _num(params["learning_rate"], 2e-5)
    warm = max(0, min(int(_num(params["warmup_steps"], 0)), total - 1))
    cosine = params["lr_scheduler_type"].lower().startswith("cosine")
    q = max(0.0, 1.0 - 0.35 * abs(math.log10(max(lr, 1e-12)) - math.log10(2e-5)))
    lora = params["apply_lora"].lower() == "true"
    l0 = 1.85 + 0.3 * u(0)
    floor = 0.7 + 0.2 * u(1) + 0.45 * (1 - q) - 0.03 * min(epochs, 5) + (0.04 if lora else 0.0)
    speed = (1.5 + 3.0 * q) * min(epochs, 3)

    def curve(p: float) -> float:
        return floor + (l0 - floor) * math.exp(-speed * p)

    points: list[Point] = []
    losses = []
    for s in range(1, total + 1):
        p = s / total
        if s <= warm:
            rate = lr * s / max(warm, 1)
        else:
            frac = (s - warm) / max(total - warm, 1)
            rate = lr * (0.5 * (1 + math.cos(math.pi * frac)) if cosine else 1 - frac)
        loss = curve(p) + 0.04 * (u(10 + s) - 0.5)
        losses.append(loss)
        at = s / (total + 1)
        points += [Point("loss", round(loss, 4), s, at), Point("grad_norm", round(0.4 + 1.2 * math.exp(-3 * p)
                   + 0.1 * u(5000 + s), 4), s, at), Point("learning_rate", float(f"{rate:.6g}"), s, at),
                   Point("epoch", round(s / per_epoch, 4), s, at)]
        if s % per_epoch == 0:
            e = s // per_epoch
            runtime = round(20 + 10 * u(9000 + e), 3)
            points += [Point("eval_loss", round(curve(p) + 0.06 + 0.04 * u(7000 + e), 4), s, at),
                       Point("eval_runtime", runtime, s, at),
                       Point("eval_samples_per_second", round(per_epoch * batch / runtime, 3), s, at),
                       Point("eval_steps_per_second", round(per_epoch / runtime, 3), s, at)]
    runtime = round(60.0 * total * (1 + u(2)), 2)
    points += [Point("train_loss", round(sum(losses) / len(losses), 4), total, 1.0),
               Point("train_runtime", runtime, total, 1.0),
               Point("train_samples_per_second", round(total * batch * accum / runtime, 3), total, 1.0),
               Point("train_steps_per_second", round(total / runtime, 3), total, 1.0),
               Point("total_flos", float(f"{3.8e9 * 4096 * total * batch * accum * (1 + u(3)):.6g}"), total, 1.0)]
    return points


def run_points(app: AppState, tree: Tree, run: RunNode) -> list[Point]:
    """The metric points of one run (overrides applied; not filtered by time)."""
    points: list[Point] = []
    if is_finetune(run):
        params = finetune_params(tree, run)
        seed = hashlib.sha256(json.dumps([params, _data_refs(tree, run)], sort_keys=True).encode()).digest()
        points = training_points(params, seed)
        if run.fails:
            points = [p for p in points if p.at <= 0.6]
    for step, metrics in app.state.get("metric_overrides", {}).get(tree.job["name"].lower(), {}).items():
        target = _override_target(tree, step or None)
        if run.kind != "step" or target is None or target.id != run.id:
            continue
        for key, value in metrics.items():
            last = max((i for i, p in enumerate(points) if p.key == key), default=None)
            if last is not None:
                points[last] = points[last]._replace(value=float(value))
            else:
                points.append(Point(key, float(value), max((p.step for p in points), default=0), 1.0))
    return points


def _override_target(tree: Tree, step: Optional[str]) -> Optional[RunNode]:
    if step:
        exact = [s for s in tree.steps if s.display == step]
        loose = [s for s in tree.steps if step in s.display]
        return (exact or loose or [None])[0]
    return next((s for s in tree.steps if is_finetune(s)), tree.steps[-1] if tree.steps else None)


def visible(tree: Tree, run: RunNode, points: list[Point], now: float) -> list[tuple[Point, float]]:
    """The points logged by ``now``, each with its timestamp (epoch seconds)."""
    if run.start is None or run.end is None:
        return []
    span = run.end - run.start
    canceled = tree.job["_emu"].get("canceled_at")
    limit = now if canceled is None else min(now, canceled)
    out = []
    for p in points:
        t = run.start + p.at * span
        if t <= limit:
            out.append((p, t))
    return out


def set_overrides(app: AppState, job: str, metrics: dict, step: Optional[str] = None) -> dict:
    """Set (or, with None values, remove) final metric values of a job; returns the job's overrides."""
    if not isinstance(job, str) or not job:
        raise EmulatorError("set_metrics needs a job name")
    if not isinstance(metrics, dict) or not all(isinstance(k, str) and k for k in metrics):
        raise EmulatorError("metrics must be a mapping of metric name to number")
    if step is not None and (not isinstance(step, str) or not step):
        raise EmulatorError("step must be the name of a step of the job")
    for key, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise EmulatorError(f"metric {key!r} must be a finite number, got {value!r}")
    store = app.state.setdefault("metric_overrides", {})
    by_step = store.setdefault(job.lower(), {})
    rec = by_step.setdefault(step or "", {})
    for key, value in metrics.items():
        if value is None:
            rec.pop(key, None)
        else:
            rec[key] = float(value)
    result = {"job": job, "step": step, "metrics": dict(rec)}
    if not rec:
        by_step.pop(step or "", None)
    if not by_step:
        store.pop(job.lower(), None)
    app.save()
    return result


def control_set(app: AppState, req: Request) -> Response:
    """``POST /_emulator/metrics`` ``{"job": name, "metrics": {key: value}, "step": optional}``."""
    data: Any = req.data if isinstance(req.data, dict) else {}
    try:
        with app.lock:
            return Response(200, set_overrides(app, data.get("job"), data.get("metrics"), data.get("step")))
    except EmulatorError as exc:
        raise bad(exc.message, "InvalidMetrics") from None


add_routes(("_emulator/metrics", "POST", control_set))
