"""Apply a specs directory: compute, data assets, pipeline job, model, endpoint, deployment, traffic.

Dependency order (independent steps run concurrently through ``dag.run_dag``)::

    compute ─┐
    data-* ──┴─> job (submit under its content-derived name, wait) ─> model ─┐
    endpoint ────────────────────────────────────────────────────────────────┴─> deployment ─> traffic

Each step reads the live resource first and writes only when it is missing or differs from the spec (see
``plan``), so a second apply makes no write calls and a re-run after an interruption or a failure continues
where it stopped. A job whose name exists is never resubmitted (a running one is waited for). Traffic is
routed only after the deployment succeeded.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AzureError
from ..workspace import TERMINAL_JOB, Workspace
from . import plan as planmod
from .dag import Node, Outcome, run_dag
from .specs import Resource

DEPS = {
    "compute": [],
    "data": [],
    "job": ["compute", "data:*"],
    "model": ["job"],
    "endpoint": [],
    "deployment": ["endpoint", "model"],
    "traffic": ["deployment"],
}


class Reporter:
    """Progress lines: rich on a terminal, plain lines otherwise (thread-safe)."""

    def __init__(self, out: Any = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._console = None
        self._status = None
        if self.tty:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False, markup=False)

    def line(self, text: str) -> None:
        with self._lock:
            if self._console is not None:
                self._console.print(text)
            else:
                print(text, file=self.out, flush=True)

    def job_progress(self, name: str, status: str, elapsed: float, changed: bool) -> None:
        """Called on every poll of a running job: a live status on a terminal, a line per change otherwise."""
        if self._console is not None:
            with self._lock:
                text = f"job {name}: {status} ({elapsed:.0f}s)"
                if self._status is None:
                    self._status = self._console.status(text)
                    self._status.start()
                else:
                    self._status.update(text)
            if changed:
                self.line(f"  job {name}: {status}")
        elif changed:
            self.line(f"  job {name}: {status} after {elapsed:.1f}s")

    def job_done(self) -> None:
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None


@dataclass
class StepResult:
    key: str
    kind: str
    name: str
    action: str  # created | updated | unchanged | submitted | waited | failed | skipped
    detail: str = ""
    seconds: float = 0.0


@dataclass
class ApplyResult:
    env: str
    steps: list[StepResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return any(s.action in ("created", "updated", "submitted") for s in self.steps)


class Applier:
    def __init__(self, ws: Workspace, resources: list[Resource], reporter: Reporter, *, poll_interval: float = 10.0,
                 job_timeout: float | None = None, stop: threading.Event | None = None) -> None:
        self.ws = ws
        self.resources = resources
        self.rep = reporter
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.stop = stop or threading.Event()
        self.by_key = {r.key: r for r in resources}

    # -- steps
    def step(self, r: Resource) -> StepResult:
        return getattr(self, f"_{r.kind}")(r)

    def _generic(self, r: Resource) -> StepResult:
        item = planmod.plan_resource(self.ws, r)
        if item.action == planmod.NOOP:
            self.rep.line(f"= {r.kind} {r.shown}: no change")
            return StepResult(r.key, r.kind, r.shown, "unchanged")
        entity = r.load()
        verb = "creating" if item.action == planmod.CREATE else "updating"
        fields = ", ".join(c.field for c in item.changes)
        self.rep.line(f"{'+' if verb == 'creating' else '~'} {r.kind} {r.shown}: {verb}{' (' + fields + ')' if fields else ''}")
        if r.kind == "endpoint" and item.action == planmod.UPDATE:
            live = self.ws.get("endpoint", r.name)
            entity.traffic = dict(getattr(live, "traffic", None) or {})  # endpoint.yml never resets traffic
            entity.mirror_traffic = dict(getattr(live, "mirror_traffic", None) or {})
        t0 = time.monotonic()
        self.ws.create_or_update(r.kind, entity)
        done = "created" if verb == "creating" else "updated"
        self.rep.line(f"  {r.kind} {r.shown}: {done} in {time.monotonic() - t0:.1f}s")
        return StepResult(r.key, r.kind, r.shown, done)

    _compute = _generic
    _data = _generic
    _model = _generic
    _endpoint = _generic
    _deployment = _generic

    def _traffic(self, r: Resource) -> StepResult:
        live = self.ws.get("traffic", r.name)
        if live is not None and not planmod.compare(r, live, None):
            self.rep.line(f"= traffic {r.name}: no change ({_traffic_text(live.traffic)})")
            return StepResult(r.key, r.kind, r.name, "unchanged")
        entity = r.load()
        if live is not None:
            entity.mirror_traffic = dict(getattr(live, "mirror_traffic", None) or {})
        self.rep.line(f"~ traffic {r.name}: routing {_traffic_text(entity.traffic)}")
        t0 = time.monotonic()
        self.ws.create_or_update("traffic", entity)
        self.rep.line(f"  traffic {r.name}: updated in {time.monotonic() - t0:.1f}s")
        return StepResult(r.key, r.kind, r.name, "updated", _traffic_text(entity.traffic))

    def _job(self, r: Resource) -> StepResult:
        live = self.ws.get("job", r.name)
        action = "waited"
        if live is None:
            self.rep.line(f"+ job {r.name}: submitting")
            live = self.ws.create_or_update("job", r.load())
            action = "submitted"
            self.rep.line(f"  job {r.name}: submitted ({_studio(live)})")
        else:
            status = str(planmod.plain(live.status))
            if status in TERMINAL_JOB:
                self.rep.line(f"= job {r.name}: already ran ({status}); not resubmitted")
            else:
                self.rep.line(f"= job {r.name}: already submitted ({status}); waiting for it")
        status = self._wait_job(r.name, live)
        if status != "Completed":
            reason = self.ws.job_error(r.name) if status == "Failed" else f"the job is {status}"
            raise AzureError(f"job '{r.name}': {status}: {reason} (Studio: {_studio(live)}); the job name derives "
                             "from the spec's content, so change the spec (or the data) to run it again")
        return StepResult(r.key, r.kind, r.name, action, "Completed")

    def _wait_job(self, name: str, live: Any) -> str:
        t0 = time.monotonic()
        last = ""
        try:
            while True:
                status = str(planmod.plain(live.status))
                self.rep.job_progress(name, status, time.monotonic() - t0, status != last)
                last = status
                if status in TERMINAL_JOB:
                    return status
                if self.stop.is_set():
                    raise AzureError(f"job '{name}': stopped waiting (it keeps running; re-run apply to continue)")
                if self.job_timeout is not None and time.monotonic() - t0 > self.job_timeout:
                    raise AzureError(f"job '{name}': still {status} after {self.job_timeout:.0f}s; re-run apply to "
                                     "keep waiting (it is not resubmitted)")
                self.stop.wait(self.poll_interval)
                live = self.ws.get("job", name)
                if live is None:
                    raise AzureError(f"job '{name}': disappeared from the workspace while running")
        finally:
            self.rep.job_done()

    # -- the run
    def nodes(self) -> list[Node]:
        out = []
        for r in self.resources:
            deps: list[str] = []
            for dep in DEPS[r.kind]:
                if dep.endswith(":*"):
                    deps.extend(k for k in self.by_key if k.startswith(dep[:-1]))
                else:
                    deps.append(dep)
            out.append(Node(r.key, (lambda res=r: self.step(res)), deps))
        return out

    def run(self, env: str, *, sequential: bool = False) -> ApplyResult:
        t0 = time.monotonic()
        self.ws.check()
        outcomes = run_dag(self.nodes(), sequential=sequential, stop=self.stop)
        result = ApplyResult(env, seconds=0.0)
        for r in self.resources:
            o: Outcome = outcomes[r.key]
            if o.ok:
                step = o.result
                step.seconds = o.seconds
                result.steps.append(step)
            elif o.skipped:
                blockers = [d for d in DEPS[r.kind] if d in outcomes and not outcomes[d].ok]
                result.steps.append(StepResult(r.key, r.kind, r.shown, "skipped",
                                               f"blocked by {', '.join(blockers) or 'a failed step'}"))
            else:
                err = o.error
                if isinstance(err, AzureError):
                    message = err.one_line()
                elif isinstance(err, Exception) and type(err).__module__.startswith("generator"):
                    message = str(err)
                else:
                    raise err  # a bug: keep the traceback
                result.steps.append(StepResult(r.key, r.kind, r.shown, "failed", message, o.seconds))
                result.errors.append(message)
        result.seconds = time.monotonic() - t0
        for step in result.steps:
            if step.action == "skipped":
                self.rep.line(f"- {step.kind} {step.name}: not applied ({step.detail})")
        return result


def _studio(job: Any) -> str:
    return getattr(job, "studio_url", None) or "no Studio link"


def _traffic_text(traffic: Any) -> str:
    traffic = dict(traffic or {})
    return ", ".join(f"{k}={v}%" for k, v in sorted(traffic.items())) or "no traffic"


def apply(ws: Workspace, resources: list[Resource], env: str, *, reporter: Reporter | None = None,
          poll_interval: float = 10.0, sequential: bool = False, job_timeout: float | None = None) -> ApplyResult:
    """Apply ``resources`` (from ``specs.load_resources``) to the workspace; see the module doc."""
    applier = Applier(ws, resources, reporter or Reporter(), poll_interval=poll_interval, job_timeout=job_timeout)
    return applier.run(env, sequential=sequential)
