"""Staged rollout: a new model version takes over an endpoint step by step, or not at all.

The specs describe the end state (``endpoint-traffic.yml``: the new deployment at 100 %). When another
deployment holds the endpoint's traffic, apply gets there in steps (``rollout:`` in ``infra/``):

1. the new deployment (deployed next to the live one, with no traffic) answers the sample request (smoke test,
   the answer must carry ``rollout.expect``);
2. each step mirrors or routes a share of the traffic to it, waits ``wait`` seconds, and checks it again
   (still Succeeded, still answering);
3. after the last step (100 %) the deployments beyond the newest ``keep`` previous ones are deleted.

When a check fails, traffic goes back to the previous deployment, the new one is left for inspection, and apply
fails. A re-run after an interruption continues from the live traffic, and never routes to a deployment that
does not pass the check. ``rollback`` moves traffic back to the previous deployment.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ..errors import AzureError
from ..kinds import Ref
from ..settings import Rollout
from ..workspace import Workspace
from .traffic import Live, describe, live_state, resume_index  # noqa: F401  (used here, and re-exported)


def smoke_test(ws: Workspace, endpoint: str, request: Any, expect: str,
               deployment: str | None = None) -> tuple[bool, str] | None:
    """Score ``request`` on the endpoint (or one deployment of it): None when the JSON answer carries ``expect``;
    else (True, the error) when there was no answer, (False, the answer) when it lacks ``expect``. A model server
    may answer JSON encoded as a JSON string: it is decoded once more."""
    try:
        answer = ws.invoke_json(endpoint, request, deployment)
    except AzureError as exc:
        return True, exc.message
    try:
        body = json.loads(answer)
        if isinstance(body, str):
            body = json.loads(body)
    except (TypeError, ValueError):
        body = None
    return None if isinstance(body, dict) and expect in body else (False, str(answer))


class Rollouts:
    """Moves an endpoint's traffic to a new deployment (see the module doc)."""

    def __init__(self, ws: Workspace, rollout: Rollout, request: dict[str, Any], reporter: Any,
                 stop: threading.Event | None = None) -> None:
        self.ws = ws
        self.rollout = rollout
        self.request = request
        self.rep = reporter
        self.stop = stop or threading.Event()

    # -- checks
    def check(self, endpoint: str, deployment: str) -> str | None:
        """Why ``deployment`` must not get traffic (not Succeeded, or its answer fails the smoke test), or None."""
        live = self.ws.get(Ref("deployment", deployment, endpoint=endpoint))
        if live is None:
            return f"deployment {deployment} does not exist"
        state = _state(live)
        if state.lower() != "succeeded":
            return f"deployment {deployment} is {state or 'not ready'}"
        if not self.rollout.smoke:
            return None
        problem = smoke_test(self.ws, endpoint, self.request, self.rollout.expect, deployment)
        if problem is None:
            return None
        failed, detail = problem
        if failed:
            return f"the smoke test of {deployment} failed: {detail}"
        return f"the smoke test of {deployment} answered without '{self.rollout.expect}': {detail[:120]}"

    # -- traffic
    def route(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int], what: str) -> None:
        entity = self.ws.get(Ref("traffic", endpoint))
        entity.traffic = traffic
        entity.mirror_traffic = mirror
        self.rep.line(f"~ traffic {endpoint}: {what}")
        self.ws.put("traffic", entity)

    def wait(self, seconds: int) -> None:
        if seconds and self.stop.wait(seconds):
            raise AzureError("stopped between rollout steps (re-run apply to continue from the live traffic)")

    def move(self, endpoint: str, new: str) -> str:
        """Route the endpoint's traffic to ``new`` (staged when another deployment serves); a summary line."""
        live = live_state(self.ws.get(Ref("traffic", endpoint)))
        others = {k: v for k, v in live.traffic.items() if k != new}
        problem = self.check(endpoint, new)
        if problem:
            if live.traffic.get(new) or live.mirror.get(new):  # a half-done rollout to an unhealthy deployment
                old = max(others, key=others.get) if others else None
                if old:
                    self.route(endpoint, {old: 100}, {}, f"back to {old}=100% ({problem})")
            raise AzureError(f"rollout to {new} stopped: {problem}; traffic stays on "
                             f"{', '.join(f'{k}={v}%' for k, v in others.items()) or 'nothing'}; {new} is left for "
                             "inspection")
        if not others:
            self.route(endpoint, {new: 100}, {}, f"routing {new}=100%")
            return f"{new}=100%"
        old = max(others, key=others.get)
        start = resume_index(self.rollout, live, new)
        if start:
            self.rep.line(f"  traffic {endpoint}: continuing the rollout to {new} at step {start + 1}")
        for number, step in enumerate(self.rollout.steps[start:], start + 1):
            if step.mirror is not None:
                self.route(endpoint, {old: 100}, {new: step.mirror}, f"step {number}: mirror {step.mirror}% to {new}")
            elif step.traffic == 100:
                self.route(endpoint, {new: 100}, {}, f"step {number}: {new}=100%")
            else:
                self.route(endpoint, {old: 100 - step.traffic, new: step.traffic}, {},  # type: ignore[operator]
                           f"step {number}: {old}={100 - step.traffic}%, {new}={step.traffic}%")  # type: ignore[operator]
            self.wait(step.wait)
            problem = self.check(endpoint, new)
            if problem:
                self.route(endpoint, {old: 100}, {}, f"back to {old}=100% ({problem})")
                raise AzureError(f"rollout to {new} failed at step {number}: {problem}; traffic is back on {old}; "
                                 f"{new} is left for inspection")
        self.prune(endpoint, new)
        return f"{new}=100% (from {old})"

    def prune(self, endpoint: str, current: str) -> list[str]:
        """Delete the deployments beyond the newest ``keep`` previous ones (never one with traffic)."""
        deployments = self.ws.call("deployment", endpoint, "list",
                                   lambda: list(self.ws.client.online_deployments.list(endpoint_name=endpoint)))
        live = live_state(self.ws.get(Ref("traffic", endpoint)))
        previous = [d for d in deployments if d.name != current and not live.traffic.get(d.name)
                    and not live.mirror.get(d.name)]
        previous.sort(key=_created, reverse=True)
        removed = []
        for dep in previous[self.rollout.keep:]:
            self.rep.line(f"- deployment {endpoint}/{dep.name}: deleting (keeping {self.rollout.keep} previous)")
            self.ws.delete(Ref("deployment", dep.name, endpoint=endpoint))
            removed.append(dep.name)
        return removed


def _state(entity: Any) -> str:
    state = getattr(entity, "provisioning_state", None)
    return str(getattr(state, "value", state) or "")


def _created(entity: Any) -> str:
    ctx = getattr(entity, "creation_context", None)
    return str(getattr(ctx, "created_at", "") or "")


def previous_deployment(ws: Workspace, endpoint: str) -> tuple[str, str]:
    """(the deployment serving now, the newest other deployment that can serve) for ``rollback``."""
    live = live_state(ws.get(Ref("traffic", endpoint)))
    if not live.traffic:
        raise AzureError(f"endpoint '{endpoint}' routes no traffic; nothing to roll back")
    current = max(live.traffic, key=live.traffic.get)  # type: ignore[arg-type]
    deployments = ws.call("deployment", endpoint, "list",
                          lambda: list(ws.client.online_deployments.list(endpoint_name=endpoint)))
    candidates = [d for d in deployments if d.name != current
                  and _state(d).lower() == "succeeded"]
    if not candidates:
        raise AzureError(f"endpoint '{endpoint}' has no previous deployment to roll back to (rollout.keep: 0?)")
    candidates.sort(key=_created, reverse=True)
    return current, candidates[0].name


def rollback_session(root: Path, s: Any, request: dict[str, Any], *, yes: bool, ask: Any = None,
                     reporter: Any = None) -> tuple[str, str]:
    """``amlgen rollback``: traffic back to the previous deployment, after its smoke test; (was, now)."""
    from ..errors import SpecError
    from ..locks import hold_env
    from .ops import endpoint_of
    from .safety import guard

    endpoint, _ = endpoint_of(s.resources)
    current, previous = previous_deployment(s.ws, endpoint)
    guard(root, s.env, s.ws, action=f"Move {endpoint}'s traffic from {current} back to {previous}", yes=yes, ask=ask)
    with hold_env(root, s.env.name, "rollback", s.ws):
        mover = Rollouts(s.ws, s.env.config.rollout, request, reporter)
        problem = mover.check(endpoint, previous)
        if problem:
            raise SpecError(f"cannot roll back to {previous}: {problem}")
        mover.route(endpoint, {previous: 100}, {}, f"rollback: {previous}=100% (was {current})")
    return current, previous
