"""The text of a run's log at this instant (lines appear as the run progresses; deterministic).

- the root and pipeline-node runs: ``logs/azureml/executionlogs.txt``, the step transitions as the pipeline
  executor writes them;
- a step run: ``user_logs/std_log.txt``, a few lines of what the step does; the fine-tuning step prints the
  Trainer's log dicts with the same values as its MLflow metrics; a failing step ends with the job's error.
"""

from __future__ import annotations

import time

from .core import iso
from .metrics import is_finetune, run_points, visible
from .runtree import RunNode, Tree, run_status, run_times
from .state import AppState

_STEP_LINES = {  # lines a step prints over its run (fractions of its window), by a word of its name
    "validation": ["Validating the pipeline inputs", "train_file_path: chat-completion rows with a 'messages' column",
                   "Validation completed"],
    "import": ["Importing model {model}", "Downloading model artifacts", "Model import completed"],
    "preprocess": ["Loading the tokenizer", "Tokenizing train and validation data", "Preprocessing completed"],
    "converter": ["Converting the fine-tuned model to MLflow", "Saved MLflow model to mlflow_model_folder",
                  "Conversion completed"],
}


def _stamp(t: float) -> str:
    return iso(t)[:23] + "Z"


def _step_lines(app: AppState, tree: Tree, run: RunNode, now: float) -> list[tuple[float, str]]:
    start, end = run.start, run.end
    if start is None or end is None:
        return []
    span = end - start
    lines: list[tuple[float, str]] = [(start, f"[{_stamp(start)}] Starting {run.display} on {run.compute}")]
    if is_finetune(run):
        by_step: dict[int, dict] = {}
        for point, t in visible(tree, run, run_points(app, tree, run), now):
            entry = by_step.setdefault(point.step, {"_t": t, "_eval": {}, "_train": {}})
            target = entry["_eval"] if point.key.startswith("eval_") else (
                entry["_train"] if point.key.startswith(("train_", "total_")) else entry)
            target[point.key] = point.value
        for step in sorted(by_step):
            entry = by_step[step]
            plain = {k: v for k, v in entry.items() if not k.startswith("_")}
            for part in (plain, entry["_eval"], entry["_train"]):
                if part:
                    lines.append((entry["_t"], str(part)))
    else:
        words = next((w for w in _STEP_LINES if w in run.display), None)
        model = next((i.get("uri") for i in (tree.job["properties"].get("inputs") or {}).values()
                      if isinstance(i, dict) and str(i.get("jobInputType", "")).endswith("model")), "")
        for i, text in enumerate(_STEP_LINES.get(words, ["Running"])):
            lines.append((start + span * (i + 1) / 4, f"[{_stamp(start + span * (i + 1) / 4)}] "
                          + text.format(model=model)))
    if run.fails:
        err = tree.job["_emu"].get("error") or {}
        lines.append((end, f"[{_stamp(end)}] Error: {err.get('code', 'SystemError')}: {err.get('message', '')}"))
    elif run_status(tree, run, now) == "Completed":
        lines.append((end, f"[{_stamp(end)}] {run.display} completed"))
    return lines


def _execution_lines(tree: Tree, run: RunNode, now: float) -> list[tuple[float, str]]:
    kids = [tree.runs[c.lower()] for c in run.children]
    lines: list[tuple[float, str]] = []
    if run.start is not None:
        listed = ", ".join(f"{k.id}:{k.display}" for k in kids[:5])
        lines.append((run.start, f"[{_stamp(run.start)}] Submitting {len(kids)} runs, first five are: {listed}"))
    for kid in kids:
        start, end = run_times(tree, kid, now)
        if start is not None:
            lines.append((start, f"[{_stamp(start)}] Step {kid.display} ({kid.id}) is Running"))
        status = run_status(tree, kid, now)
        if end is not None and status in ("Completed", "Failed", "Canceled"):
            lines.append((end, f"[{_stamp(end)}] Step {kid.display} ({kid.id}) finished with status {status}"))
    status = run_status(tree, run, now)
    _, end = run_times(tree, run, now)
    if end is not None and status in ("Completed", "Failed", "Canceled"):
        lines.append((end, f"[{_stamp(end)}] Execution of experiment run {run.id} finished with status {status}"))
    return lines


def log_text(app: AppState, ws: dict, tree: Tree, run: RunNode) -> str:
    now = time.time()
    canceled = tree.job["_emu"].get("canceled_at")
    limit = now if canceled is None else min(now, canceled)
    lines = _step_lines(app, tree, run, now) if run.kind == "step" else _execution_lines(tree, run, now)
    if run.kind == "step" and canceled is not None and now >= canceled and run_status(tree, run, now) == "Canceled" \
            and run.start is not None and run.start <= canceled:
        lines.append((canceled, f"[{_stamp(canceled)}] Canceled"))
        limit = canceled
    kept = [text for t, text in sorted(lines, key=lambda x: x[0]) if t <= limit]
    return "".join(line + "\n" for line in kept)
