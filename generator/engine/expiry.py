"""Endpoints that expire: ``endpoint.ttl_hours``, the expiry tag apply sets, and ``amlgen reap``.

Where the timestamp lives: **on the live endpoint only**, as the tag ``amlgen-expires-at`` (UTC, ISO 8601).
Render stays pure (no clock in a spec: the committed specs never change by themselves), and plan compares only
the tags a spec sets, so the expiry tag is never a difference (no perpetual drift). Apply sets it when it
creates the endpoint (now + ttl) and carries the live value over on every later write of the endpoint (its own
update and the traffic update, which would otherwise replace the tags), so an expiry is never extended by a
re-apply; an endpoint written while ``ttl_hours`` is unset loses the tag.

After expiry ``amlgen reap`` deletes the endpoint (with its deployments). In an environment with a ttl an absent
endpoint is therefore an expected state: plan still lists its create (apply recreates it, with a new expiry) but
marks it ``expired`` and ``plan --detailed-exitcode`` does not count it as drift.

Reap refuses a protected environment, and any workspace a protected environment manages, whatever route leads
there; it deletes only endpoints of the environment's workspace that carry the tag, only once it has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..config import Environment
from ..errors import AmlgenError
from ..kinds import KINDS, Ref
from .plan import CREATE, Plan

EXPIRES_TAG = "amlgen-expires-at"
ENDPOINT_KINDS = tuple(k.name for k in KINDS if k.endpoint_part)  # the kinds table's `endpoint_part`


class ProtectedEnvironment(AmlgenError):
    """A command that deletes things was pointed at a protected environment or workspace."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp_text(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: Any) -> datetime | None:
    """The expiry a tag holds; None when it is not a timestamp (such an endpoint is never reaped)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def ttl_of(env: Environment) -> int | None:
    return env.config.endpoint.ttl_hours


# --------------------------------------------------------------------------- apply: the tag
def carry(entity: Any, live: Any, ttl_hours: int | None, now: datetime | None = None) -> None:
    """Set ``entity``'s expiry tag before it is written: the live one when there is one, else now + ttl.

    Without a ttl the tag is left out (the endpoint then never expires)."""
    tags = dict(getattr(entity, "tags", None) or {})
    tags.pop(EXPIRES_TAG, None)
    if ttl_hours:
        current = (getattr(live, "tags", None) or {}).get(EXPIRES_TAG) if live is not None else None
        tags[EXPIRES_TAG] = current if parse_stamp(current) else stamp_text((now or utcnow()) + timedelta(hours=ttl_hours))
    entity.tags = tags


# --------------------------------------------------------------------------- plan
def annotate(plan: Plan, env: Environment) -> None:
    """In an environment with a ttl, an absent endpoint (and its deployment and traffic) is expected: mark it."""
    if not ttl_of(env):
        return
    endpoint = next((i for i in plan.items if i.kind == "endpoint"), None)
    if endpoint is None or endpoint.action != CREATE:
        return
    for item in plan.items:
        if item.kind in ENDPOINT_KINDS and item.action == CREATE:
            item.expired = True
            note = (f"absent: the endpoint lives {ttl_of(env)} h (endpoint.ttl_hours) and was reaped or never "
                    "applied; apply recreates it (not drift)")
            item.note = f"{item.note}; {note}" if item.note else note


# --------------------------------------------------------------------------- reap
@dataclass
class Reaped:
    name: str
    expires: str
    action: str  # deleted | would delete | kept | no valid expiry


@dataclass
class ReapResult:
    env: str
    workspace: str
    dry_run: bool
    now: str
    endpoints: list[Reaped] = field(default_factory=list)

    @property
    def deleted(self) -> list[str]:
        return [e.name for e in self.endpoints if e.action == "deleted"]

    @property
    def expired(self) -> list[str]:
        return [e.name for e in self.endpoints if e.action in ("deleted", "would delete")]


def refuse_protected(env: Environment) -> None:
    """Reap deletes: never in a protected environment (checked before anything is read from Azure)."""
    if env.config.environment.protected:
        raise ProtectedEnvironment(
            f"environment '{env.name}' is protected: reap deletes endpoints of unprotected environments only",
            where=env.where("environment", "protected"))


def reap(root: Path, env: Environment, ws: Any, *, dry_run: bool = False, now: datetime | None = None,
         reporter: Any = None, before_delete: Any = None) -> ReapResult:
    """Delete the endpoints of ``env``'s workspace whose expiry tag has passed (report only with ``dry_run``);
    ``before_delete()`` runs once, before the first deletion (the workspace lease is taken there)."""
    from .safety import check_workspace_matches, protecting_environments

    refuse_protected(env)
    check_workspace_matches(env, ws)
    protectors = protecting_environments(root, ws.workspace_id)
    if protectors:
        raise ProtectedEnvironment(f"workspace {ws.label} is managed by protected environment"
                                   f"{'s' if len(protectors) > 1 else ''} {', '.join(protectors)}: reap refuses it",
                                   where=env.file)
    now = now or utcnow()
    result = ReapResult(env.name, ws.label, dry_run, stamp_text(now))
    say = reporter.line if reporter is not None else (lambda text: None)
    if not ttl_of(env):
        say(f"environment '{env.name}' sets no endpoint.ttl_hours: nothing expires, nothing to reap")
        return result
    ws.check()
    endpoints = ws.call("endpoint", "*", "list", lambda: list(ws.client.online_endpoints.list()))
    for ep in sorted(endpoints, key=lambda e: e.name):
        raw = (getattr(ep, "tags", None) or {}).get(EXPIRES_TAG)
        if raw is None:
            continue
        when = parse_stamp(raw)
        if when is None:
            result.endpoints.append(Reaped(ep.name, str(raw), "no valid expiry"))
            say(f"  endpoint {ep.name}: tag {EXPIRES_TAG}={raw!r} is not a timestamp; kept")
            continue
        if when > now:
            result.endpoints.append(Reaped(ep.name, stamp_text(when), "kept"))
            say(f"= endpoint {ep.name}: expires {stamp_text(when)}; kept")
            continue
        if dry_run:
            result.endpoints.append(Reaped(ep.name, stamp_text(when), "would delete"))
            say(f"- endpoint {ep.name}: expired {stamp_text(when)}; would delete (dry run)")
            continue
        say(f"- endpoint {ep.name}: expired {stamp_text(when)}; deleting")
        if before_delete is not None:
            before_delete()
            before_delete = None
        gone = ws.delete(Ref("endpoint", ep.name))
        result.endpoints.append(Reaped(ep.name, stamp_text(when), "deleted" if gone else "already gone"))
        say(f"  endpoint {ep.name}: {'deleted' if gone else 'already gone'}")
    return result
