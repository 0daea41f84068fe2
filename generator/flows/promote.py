"""``amlgen promote --from dev --to prod``: a trained model moves to a deploying environment through the registry.

1. the source environment trains and the target deploys (``role: deploy``, ``promotion.source``), and the
   promotion registry serves both their regions;
2. the source's pipeline job (named by its committed specs) completed, and its model is registered;
3. the target's gates pass (metrics of the run within bounds; the source endpoint answers the sample request),
   else a table of metric, bound and value and exit 1;
4. the model version is shared into the registry (``models.share``: a long-running operation; a version already
   there is left as it is, so a re-run converges);
5. the promoted reference (registry, name, version, source job, the metrics that passed, date) is written into
   the target's file under ``infra/`` and the target's specs are rendered again: the promotion reaches review as
   a pull-request diff of ``infra/`` and ``specs/<target>/``. It never applies the target.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Environment
from ..errors import AzureError, ConfigError
from ..kinds import Ref
from ..paths import ENVIRONMENTS_DIR, INFRA_DIR
from ..settings import Gate
from ..workspace import Workspace
from ..yamlutil import flow, load_with_origins, read_text, scalar


@dataclass
class GateResult:
    gate: str
    bound: str
    value: str
    ok: bool


@dataclass
class Candidate:
    job: str
    model: str
    version: str
    status: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    gates: list[GateResult] = field(default_factory=list)


def check_pair(source: Environment, target: Environment) -> None:
    """Offline: a training source, a deploying target that names it, a registry both regions can use."""
    if not source.trains:
        raise ConfigError(f"'{source.name}' does not train (role: deploy): promote from the environment that trains",
                          where=source.where("environment", "role"))
    if target.trains:
        raise ConfigError(f"'{target.name}' trains (role: train): promotion goes to an environment that deploys "
                          "promoted models (role: deploy)", where=target.where("environment", "role"))
    assert target.config.promotion is not None  # checked when loading (checks._role)
    if target.config.promotion.source != source.name:
        raise ConfigError(f"'{target.name}' takes its models from '{target.config.promotion.source}', not from "
                          f"'{source.name}'", where=target.where("promotion", "source"))
    registry = target.config.promotion_registry
    if registry is None:
        raise ConfigError("no promotion_registry: the registry models travel through", where=target.where("promotion"))
    for env in (source, target):
        region = env.config.workspace.location
        if region not in registry.locations:
            raise ConfigError(f"registry '{registry.name}' is not replicated to {region}, the region of '{env.name}' "
                              f"(its locations: {', '.join(registry.locations)}); the service would refuse it",
                              where=env.where("workspace", "location"))


def evaluate(gates: list[Gate], metrics: dict[str, float], smoke: str | None) -> list[GateResult]:
    """Each gate against the run's metrics and the smoke test's outcome (``smoke``: None = answered)."""
    out = []
    for gate in gates:
        if gate.smoke:
            out.append(GateResult("smoke test", "answers the sample request", "answered" if smoke is None else smoke,
                                  smoke is None))
            continue
        name = gate.metric or ""
        bound = " and ".join(b for b in (f">= {gate.min:g}" if gate.min is not None else "",
                                         f"<= {gate.max:g}" if gate.max is not None else "") if b)
        if name not in metrics:
            known = ", ".join(sorted(metrics)) or "none"
            out.append(GateResult(name, bound, f"not reported by the run (it has: {known})", False))
            continue
        value = metrics[name]
        ok = (gate.min is None or value >= gate.min) and (gate.max is None or value <= gate.max)
        out.append(GateResult(name, bound, f"{value:g}", ok))
    return out


def gate_table(results: list[GateResult]) -> str:
    rows = [("gate", "bound", "value", "")] + [(r.gate, r.bound, r.value, "ok" if r.ok else "FAILED") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def candidate(ws: Workspace, job: str, model: str, version: str) -> Candidate:
    """The source run and its model, as the workspace reports them (errors when not ready to promote)."""
    live_job = ws.get(Ref("job", job))
    if live_job is None:
        raise AzureError(f"job '{job}' never ran in {ws.label}: apply the source environment first")
    status = str(getattr(live_job.status, "value", live_job.status))
    if status != "Completed":
        raise AzureError(f"job '{job}' is {status}, not Completed: only a completed run's model can be promoted")
    if ws.get(Ref("model", model, version)) is None:
        raise AzureError(f"model {model}:{version} is not registered in {ws.label}: apply the source environment "
                         "(it registers the model after the job)")
    return Candidate(job, model, version, status)


def share(ws: Workspace, registry_client: Workspace, registry: str, model: str, version: str, *,
          dry_run: bool = False) -> bool:
    """Share the version into the registry; False when it is already there (nothing to do). ``dry_run``: only say
    whether it would share."""
    if registry_client.get(Ref("model", model, version)) is not None:
        return False
    if dry_run:
        return True
    ws.call("model", f"{model}:{version}", f"share into registry {registry}",
            lambda: ws.client.models.share(name=model, version=version, registry_name=registry,
                                           share_with_name=model, share_with_version=version))
    return True


# --------------------------------------------------------------------------- the record in infra/
def promoted_block(record: dict[str, Any]) -> str:
    lines = [f"promoted:                        # written by `amlgen promote` on {record['date']}: review it with "
             "the specs diff"]
    for key in ("registry", "name", "version", "source_env", "source_job"):
        lines.append(f"  {key}: {scalar(str(record[key]))}")
    lines.append(f"  metrics: {flow(record['metrics'])}")
    lines.append(f"  date: {scalar(record['date'])}")
    return "\n".join(lines) + "\n"


def record(root: Path, env_name: str, values: dict[str, Any]) -> Path:
    """Replace (or add) the top-level ``promoted:`` block of the environment's file, keeping everything else."""
    rel = f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{env_name}.yml"
    path = root / rel
    text = read_text(path, rel, root=root)
    data, origins = load_with_origins(path, display=rel, root=root)
    lines = text.splitlines(keepends=True)
    block = promoted_block(values)
    if isinstance(data, dict) and "promoted" in data:
        start = origins[("promoted",)][1] - 1
        later = sorted(origins[(k,)][1] - 1 for k in data if origins[(k,)][1] - 1 > start)
        end = later[0] if later else len(lines)
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1  # keep the blank lines before the next section
        new = "".join(lines[:start]) + block + "".join(lines[end:])
    else:
        new = text + ("" if text.endswith("\n") else "\n") + ("\n" if text.strip() else "") + block
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        from ..yamlutil import loads_with_origins

        loads_with_origins(new, rel)  # still one valid YAML document
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def smoke_outcome(ws: Workspace, endpoint: str, request: dict[str, Any], expect: str) -> str | None:
    """None when the endpoint answers the sample request with ``expect`` in its JSON, else why not."""
    from ..engine.rollout import smoke_test

    problem = smoke_test(ws, endpoint, request, expect)
    if problem is None:
        return None
    failed, detail = problem
    return f"no answer ({detail})" if failed else f"answered without '{expect}'"


@dataclass
class PromoteOutcome:
    source: str
    target: str
    registry: str
    model: str
    version: str
    job: str
    gates: list[Any]
    shared: bool = False
    recorded: Path | None = None
    dry_run: bool = False


def promote_project(root: Path, source: str, to: str, *, target: Any, dry_run: bool = False, reporter: Any = None,
            **connect: Any) -> PromoteOutcome:
    """Check, gate, share and record a trained model for a deploying environment (never applies it)."""
    from .. import project as api
    from ..config import load_all
    from ..engine.ops import endpoint_of
    from ..engine.runs import latest_metrics
    from ..errors import AmlgenError
    from ..locks import hold_env

    envs = {e.name: e for e in load_all(root)}
    for name in (source, to):
        if name not in envs:
            raise ConfigError(f"unknown environment '{name}' (known: {', '.join(envs)})")
    src, dst = envs[source], envs[to]
    check_pair(src, dst)
    assert dst.config.promotion is not None and dst.config.promotion_registry is not None
    registry = dst.config.promotion_registry.name
    say = reporter.line if reporter is not None else (lambda text: None)
    with api.session(root, source, target=target, **connect) as s:
        job = next(r for r in s.resources if r.kind.run_once)
        model = next(r for r in s.resources if r.kind.name == "model")
        cand = candidate(s.ws, job.name, model.name, model.ref.version or "")
        say(f"source: job {cand.job} Completed; model {cand.model}:{cand.version} registered in {s.ws.label}")
        gates = dst.config.promotion.gates
        metrics = latest_metrics(s.ws, cand.job) if any(g.metric for g in gates) else {}
        smoke = None
        if any(g.smoke for g in gates):
            endpoint, _ = endpoint_of(s.resources)
            smoke = smoke_outcome(s.ws, endpoint, api.sample_request(src, root), dst.config.rollout.expect)
        results = evaluate(gates, metrics, smoke)
        if results:
            say(gate_table(results))
        failed = [r for r in results if not r.ok]
        if failed:
            raise AmlgenError(f"promotion of {cand.model}:{cand.version} to {to} stopped: {len(failed)} gate(s) failed "
                              f"({', '.join(f'{r.gate} {r.value}' for r in failed)}); see the table above")
        outcome = PromoteOutcome(source, to, registry, cand.model, cand.version, cand.job, results, dry_run=dry_run)
        # the registry is read before anything is written, also by a dry run: a missing registry fails it too
        reg = Workspace.connect_registry(registry, target=target, **connect)
        try:
            if dry_run:
                action = ("would share it into" if share(s.ws, reg, registry, cand.model, cand.version, dry_run=True)
                          else "would find it already in")
                say(f"dry run: {cand.model}:{cand.version} {action} registry {registry} and record it in "
                    f"infra/environments/{to}.yml; nothing was changed")
                return outcome
            # the project's promotion lock, and a lease in the source workspace (the one this run talks to:
            # promotion writes to the registry and to infra/, never to the target's workspace)
            with hold_env(root, source, "promotion", s.ws, lock="promote", lease=f"promote-{to}"):
                outcome.shared = share(s.ws, reg, registry, cand.model, cand.version)
                say(f"registry {registry}: {cand.model}:{cand.version} " +
                    ("shared" if outcome.shared else "already there"))
                gated = {r.gate: float(r.value) for r in results if r.ok and r.gate in metrics}
                values = {"registry": registry, "name": cand.model, "version": cand.version, "source_env": source,
                          "source_job": cand.job, "metrics": gated, "date": today()}
                env_file = root / dst.file
                before = env_file.read_bytes()
                outcome.recorded = record(root, to, values)
                try:
                    api.render(root, [to], with_infra=False)
                except BaseException:
                    env_file.write_bytes(before)  # nothing half-written in infra/
                    raise
        finally:
            reg.close()
        return outcome
