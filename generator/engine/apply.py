"""Apply a specs folder: every resource in dependency order, concurrently where independent.

The order comes from the kinds table (``Kind.deps``)::

    compute ─┐
    data-* ──┴─> job (submit under its content-derived name, wait) ─> model ─┐
    endpoint ────────────────────────────────────────────────────────────────┴─> deployment ─> traffic

``graphlib.TopologicalSorter`` gives the ready nodes; each runs in a daemon thread (an interrupt ends the
process at once; what Azure is doing goes on, and a re-run continues). A failed node blocks its dependents
(reported as not applied) while independent nodes keep running.

Each step reads the live resource first and writes only when it is missing or differs from the spec (see
``plan``), so a second apply makes no write calls. A job whose name exists is never resubmitted (a running one
is waited for). Traffic is routed only after the deployment succeeded. A change the service cannot make in
place (a cluster's size) is a replacement: done only with ``allow_replace`` and only when the cluster is idle.
"""

from __future__ import annotations

import graphlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AzureError
from ..workspace import TERMINAL_JOB, Workspace
from . import expiry
from . import plan as planmod
from .report import Reporter  # noqa: F401  (re-exported: generator.engine.apply.Reporter)
from .specs import Resource

NOT_FINAL = ("NotResponding", "Paused")  # a job can come back from these: warn and keep waiting


@dataclass
class StepResult:
    key: str
    kind: str
    name: str
    action: str  # created | updated | replaced | unchanged | submitted | waited | failed | skipped
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
        return any(s.action in ("created", "updated", "replaced", "submitted") for s in self.steps)


# --------------------------------------------------------------------------- the graph
@dataclass
class Outcome:
    key: str
    ok: bool
    result: Any = None
    error: BaseException | None = None
    skipped: bool = False
    seconds: float = 0.0


def run_graph(nodes: dict[str, Callable[[], Any]], deps: dict[str, set[str]], *, sequential: bool = False,
              stop: threading.Event | None = None) -> dict[str, Outcome]:
    """Run ``nodes`` as soon as their ``deps`` succeeded (daemon threads; one at a time with ``sequential``)."""
    sorter = graphlib.TopologicalSorter({k: deps.get(k, set()) & set(nodes) for k in nodes})
    sorter.prepare()
    order = list(nodes)
    outcomes: dict[str, Outcome] = {}
    done: queue.Queue[Outcome] = queue.Queue()
    ready: list[str] = []
    running = 0
    stop = stop or threading.Event()

    def launch(key: str) -> None:
        def body() -> None:
            t0 = time.monotonic()
            try:
                done.put(Outcome(key, True, nodes[key](), seconds=time.monotonic() - t0))
            except BaseException as exc:  # reported to the caller
                done.put(Outcome(key, False, error=exc, seconds=time.monotonic() - t0))

        threading.Thread(target=body, name=f"amlgen-{key}", daemon=True).start()

    try:
        while sorter.is_active():
            ready.extend(sorter.get_ready())
            ready.sort(key=order.index)
            while ready and not (sequential and running):
                key = ready.pop(0)
                if any(d in outcomes and not outcomes[d].ok for d in deps.get(key, ())):
                    outcomes[key] = Outcome(key, False, skipped=True)
                    sorter.done(key)  # its dependents see it failed and are skipped in turn
                    continue
                launch(key)
                running += 1
            if not running:
                continue
            outcome = done.get()
            running -= 1
            outcomes[outcome.key] = outcome
            sorter.done(outcome.key)
    except BaseException:
        stop.set()
        raise
    return outcomes


# --------------------------------------------------------------------------- the steps
class Applier:
    def __init__(self, ws: Workspace, resources: list[Resource], reporter: Reporter, *, poll_interval: float = 10.0,
                 job_timeout: float | None = None, allow_replace: bool = False, rollout: Any = None,
                 request: dict[str, Any] | None = None, stop: threading.Event | None = None,
                 endpoint_ttl: int | None = None) -> None:
        self.ws = ws
        self.rollout = rollout
        self.request = request
        self.resources = resources
        self.rep = reporter
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.allow_replace = allow_replace
        self.stop = stop or threading.Event()
        self.endpoint_ttl = endpoint_ttl  # hours: the endpoint gets (and keeps) an expiry tag (engine.expiry)

    def step(self, r: Resource) -> StepResult:
        if r.kind.run_once:
            return self._job(r)
        if r.kind.routing:
            return self._traffic(r)
        return self._generic(r)

    def _generic(self, r: Resource) -> StepResult:
        item = planmod.plan_resource(self.ws, r)
        if item.action == planmod.NOOP:
            self.rep.line(f"= {r.kind.name} {r.shown}: no change")
            return StepResult(r.key, r.kind.name, r.shown, "unchanged")
        entity = r.load()
        fields = ", ".join(c.field for c in item.changes)
        if item.action == planmod.REPLACE:
            self._replace(r, item.note)
            verb = "replacing"
        else:
            verb = "creating" if item.action == planmod.CREATE else "updating"
        self.rep.line(f"{'+' if verb != 'updating' else '~'} {r.kind.name} {r.shown}: {verb}"
                      f"{' (' + fields + ')' if fields else ''}")
        if "traffic" in r.kind.ignore and item.action == planmod.UPDATE:
            live = self.ws.get(r.ref)  # endpoint.yml never resets traffic
            entity.traffic = dict(getattr(live, "traffic", None) or {})
            entity.mirror_traffic = dict(getattr(live, "mirror_traffic", None) or {})
        if self.endpoint_ttl and r.kind.name == "endpoint":
            expiry.carry(entity, None if item.action == planmod.CREATE else self.ws.get(r.ref), self.endpoint_ttl)
        t0 = time.monotonic()
        self.ws.put(r.kind.name, entity)
        done = {"creating": "created", "updating": "updated", "replacing": "replaced"}[verb]
        self.rep.line(f"  {r.kind.name} {r.shown}: {done} in {time.monotonic() - t0:.1f}s")
        return StepResult(r.key, r.kind.name, r.shown, done)

    def _replace(self, r: Resource, why: str) -> None:
        if not self.allow_replace:
            raise AzureError(f"{r.kind.name} '{r.shown}': {why}; pass --replace to delete and recreate it")
        if r.kind.name == "compute" and planmod.busy_nodes(self.ws, r.name):
            raise AzureError(f"compute '{r.shown}': not replaced: jobs are running on it; wait until it is idle")
        self.rep.line(f"- {r.kind.name} {r.shown}: deleting to replace it ({why})")
        self.ws.delete(r.ref)

    def _traffic(self, r: Resource) -> StepResult:
        live = self.ws.get(r.ref)
        if live is not None and not planmod.compare(r, live, None) and not getattr(live, "mirror_traffic", None):
            self.rep.line(f"= traffic {r.name}: no change ({_traffic_text(live.traffic)})")
            return StepResult(r.key, r.kind.name, r.name, "unchanged")
        wanted = {k: int(v) for k, v in (r.data.get("traffic") or {}).items() if int(v)}
        if self.rollout is not None and list(wanted.values()) == [100]:  # one deployment takes the endpoint over
            from .rollout import Rollouts

            t0 = time.monotonic()
            summary = Rollouts(self.ws, self.rollout, self.request or {}, self.rep, self.stop).move(r.name, next(iter(wanted)))
            self.rep.line(f"  traffic {r.name}: {summary} in {time.monotonic() - t0:.1f}s")
            return StepResult(r.key, r.kind.name, r.name, "updated", summary)
        entity = r.load()
        if live is not None:
            entity.mirror_traffic = dict(getattr(live, "mirror_traffic", None) or {})
        if self.endpoint_ttl:
            expiry.carry(entity, live, self.endpoint_ttl)
        self.rep.line(f"~ traffic {r.name}: routing {_traffic_text(entity.traffic)}")
        t0 = time.monotonic()
        self.ws.put(r.kind.name, entity)
        self.rep.line(f"  traffic {r.name}: updated in {time.monotonic() - t0:.1f}s")
        return StepResult(r.key, r.kind.name, r.name, "updated", _traffic_text(entity.traffic))

    def _job(self, r: Resource) -> StepResult:
        live = self.ws.get(r.ref)
        action = "waited"
        if live is None:
            self.rep.line(f"+ job {r.name}: submitting")
            live = self.ws.put(r.kind.name, r.load())
            action = "submitted"
            self.rep.line(f"  job {r.name}: submitted ({_studio(live)})")
        else:
            status = str(planmod.plain(live.status))
            if status in TERMINAL_JOB:
                self.rep.line(f"= job {r.name}: already ran ({status}); not resubmitted")
            else:
                self.rep.line(f"= job {r.name}: already submitted ({status}); waiting for it")
        status, spent = self._wait_job(r.name, live)
        if status != "Completed":
            reason = self.ws.job_error(r.name) if status == "Failed" else f"the job is {status}"
            raise AzureError(f"job '{r.name}': {status}: {reason} (Studio: {_studio(live)}); the job name derives "
                             "from the spec's content, so change the spec (or the data) to run it again")
        return StepResult(r.key, r.kind.name, r.name, action, "Completed; " + _spent_text(spent))

    def _wait_job(self, name: str, live: Any) -> tuple[str, dict[str, float]]:
        """Poll until the job is final; seconds spent per status. NotResponding/Paused are waited through."""
        t0 = last_t = time.monotonic()
        last = ""
        spent: dict[str, float] = {}
        steps = StepWatch(self.ws, name, self.rep)
        try:
            while True:
                status = str(planmod.plain(live.status))
                now = time.monotonic()
                if last:
                    spent[last] = spent.get(last, 0.0) + now - last_t
                last_t = now
                self.rep.job_progress(name, status, now - t0, status != last)
                if status != last and status in NOT_FINAL:
                    self.rep.line(f"  warning: job {name} is {status}; it can recover, waiting "
                                  f"(up to the job timeout{f' of {self.job_timeout:.0f}s' if self.job_timeout else ''})")
                last = status
                steps.poll(status)
                if status in TERMINAL_JOB:
                    return status, spent
                if self.stop.is_set():
                    raise AzureError(f"job '{name}': stopped waiting (it keeps running; re-run apply to continue)")
                if self.job_timeout is not None and now - t0 > self.job_timeout:
                    raise AzureError(f"job '{name}': still {status} after {self.job_timeout:g}s "
                                     f"({_spent_text(spent)}); re-run apply to keep waiting (it is not resubmitted)")
                self.stop.wait(self.poll_interval)
                live = self.ws.get(_job_ref(name))
                if live is None:
                    raise AzureError(f"job '{name}': disappeared from the workspace while running")
        finally:
            self.rep.job_done()

    # -- the run
    def run(self, env: str, *, sequential: bool = False) -> ApplyResult:
        t0 = time.monotonic()
        self.ws.check()
        by_kind: dict[str, list[str]] = {}
        for r in self.resources:
            by_kind.setdefault(r.kind.name, []).append(r.key)
        nodes = {r.key: (lambda res=r: self.step(res)) for r in self.resources}
        deps = {r.key: {k for d in r.kind.deps for k in by_kind.get(d, [])} for r in self.resources}
        outcomes = run_graph(nodes, deps, sequential=sequential, stop=self.stop)
        result = ApplyResult(env)
        for r in self.resources:
            o = outcomes[r.key]
            if o.ok:
                step = o.result
                step.seconds = o.seconds
                result.steps.append(step)
            elif o.skipped:
                blockers = sorted(d for d in deps[r.key] if d in outcomes and not outcomes[d].ok)
                result.steps.append(StepResult(r.key, r.kind.name, r.shown, "skipped",
                                               f"blocked by {', '.join(blockers) or 'a failed step'}"))
            else:
                err = o.error
                if isinstance(err, AzureError):
                    message = err.one_line()
                elif isinstance(err, Exception) and type(err).__module__.startswith("generator"):
                    message = str(err)
                else:
                    raise err  # type: ignore[misc]  # a bug: keep the traceback
                result.steps.append(StepResult(r.key, r.kind.name, r.shown, "failed", message, o.seconds))
                result.errors.append(message)
        result.seconds = time.monotonic() - t0
        for step in result.steps:
            if step.action == "skipped":
                self.rep.line(f"- {step.kind} {step.name}: not applied ({step.detail})")
        return result


class StepWatch:
    """The pipeline's child steps (model import, preprocess, fine-tune, ...) as ``jobs.stream`` shows them: a line
    per step whose status changed, read at most every few seconds while the job runs."""

    EVERY = 5.0

    def __init__(self, ws: Workspace, job: str, reporter: Reporter) -> None:
        self.ws, self.job, self.rep = ws, job, reporter
        self.seen: dict[str, str] = {}
        self.next = 0.0
        self.broken = False

    def poll(self, status: str) -> None:
        now = time.monotonic()
        final = status in TERMINAL_JOB
        if self.broken or (now < self.next and not final) or status in ("NotStarted", "Queued", "Preparing"):
            return
        self.next = now + (0.5 if self.ws.target.is_local else self.EVERY)
        from .runs import list_steps

        try:
            steps = list_steps(self.ws, self.job)
        except AzureError as exc:  # the steps are progress only: say so once, keep waiting for the job
            self.broken = True
            self.rep.line(f"  job {self.job}: its steps cannot be listed ({exc.message}); waiting for the job")
            return
        for step in steps:
            if self.seen.get(step.name) != step.status:
                self.seen[step.name] = step.status
                self.rep.line(f"    step {step.name}: {step.status}")


def _job_ref(name: str) -> Any:
    from ..kinds import Ref

    return Ref("job", name)


def _spent_text(spent: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}s" for k, v in spent.items()) or "no time waited"


def _studio(job: Any) -> str:
    return getattr(job, "studio_url", None) or "no Studio link"


def _traffic_text(traffic: Any) -> str:
    traffic = dict(traffic or {})
    return ", ".join(f"{k}={v}%" for k, v in sorted(traffic.items())) or "no traffic"


def apply(ws: Workspace, resources: list[Resource], env: str, *, reporter: Reporter | None = None,
          poll_interval: float = 10.0, sequential: bool = False, job_timeout: float | None = None,
          allow_replace: bool = False, rollout: Any = None, request: dict[str, Any] | None = None,
          endpoint_ttl: int | None = None) -> ApplyResult:
    """Apply ``resources`` (from ``specs.load_resources``) to the workspace; see the module doc."""
    applier = Applier(ws, resources, reporter or Reporter(), poll_interval=poll_interval, job_timeout=job_timeout,
                      allow_replace=allow_replace, rollout=rollout, request=request, endpoint_ttl=endpoint_ttl)
    return applier.run(env, sequential=sequential)
