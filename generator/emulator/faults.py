"""Fault injection rules for the emulator.

A rule matches requests by HTTP method (or ``*``) and a regular expression searched in the request path (no
query string). While it has budget left (``count`` matches, or every match with ``probability``) it does one
of:

- ``status``: answer ``status`` (429, 503, ...) with an ARM error body, with ``Retry-After: <retry_after>``
  when ``retry_after`` is not None, without it otherwise;
- ``fail``: let the request through but make the long-running operation (or job) it starts end ``Failed``
  with ``message`` (on a scoring route: the deployment's scoring function fails, 500);
- ``body``: answer ``status`` (default 200) with the JSON ``body`` instead of the real answer (a deployment
  that answers a wrong body);
- ``delay``: sleep ``delay`` seconds before handling the request normally.

Scoring requests are matched once the deployment that serves them is known, against the real path and against
``/inference/<region>/<endpoint>/deployments/<deployment>/score`` (so a rule can target one deployment).

``after`` lets that many matching requests through first (a deployment that passes its smoke test, then fails).

Rules are checked in the order they were added; at most one ``status``/``fail`` rule fires per request, every
matching ``delay`` rule adds its delay.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from generator.errors import AmlgenError

ACTIONS = ("status", "fail", "delay", "body")


class FaultRuleError(AmlgenError):
    """A fault rule is malformed."""


@dataclass
class FaultRule:
    path: str
    method: str = "*"
    action: str = "status"
    status: int = 503
    retry_after: Optional[float] = None
    count: Optional[int] = None
    probability: Optional[float] = None
    delay: float = 0.0
    message: str = "Injected failure."
    body: Any = None
    after: int = 0  # matching requests let through before the rule starts to fire
    id: int = 0
    hits: int = 0
    passed: int = 0
    _regex: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.method = (self.method or "*").upper()
        if self.action not in ACTIONS:
            raise FaultRuleError(f"unknown fault action {self.action!r}; expected one of {', '.join(ACTIONS)}")
        try:
            self._regex = re.compile(self.path, re.IGNORECASE)
        except re.error as exc:
            raise FaultRuleError(f"invalid fault path regex {self.path!r}: {exc}") from exc
        if self.count is not None and self.count < 0:
            raise FaultRuleError("fault count must be >= 0")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise FaultRuleError("fault probability must be between 0 and 1")
        if self.action == "status" and not 400 <= int(self.status) <= 599:
            raise FaultRuleError("fault status must be an HTTP error status (400-599)")
        if self.action == "body" and not 200 <= int(self.status) <= 599:
            raise FaultRuleError("a body fault's status must be 200-599")
        if self.delay < 0:
            raise FaultRuleError("fault delay must be >= 0")
        if self.after < 0:
            raise FaultRuleError("fault after must be >= 0")

    def matches(self, method: str, path: str, *aliases: str) -> bool:
        return (self.method == "*" or self.method == method.upper()) and any(
            self._regex.search(p) for p in (path, *aliases))

    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("_regex", None)
        return data


class Faults:
    """The fault rules of one emulator (thread-safe)."""

    def __init__(self, seed: Optional[int] = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._random = random.Random(seed)

    def add(
        self,
        path: str,
        method: str = "*",
        *,
        action: str = "status",
        status: Optional[int] = None,
        retry_after: Optional[float] = None,
        count: Optional[int] = None,
        probability: Optional[float] = None,
        delay: float = 0.0,
        message: str = "Injected failure.",
        body: Any = None,
        after: int = 0,
    ) -> FaultRule:
        """Add a rule and return it; with neither ``count`` nor ``probability`` it fires on every match.
        ``status`` defaults to 503 (200 for a ``body`` rule)."""
        if status is None:
            status = 200 if action == "body" else 503
        rule = FaultRule(
            path=path, method=method, action=action, status=int(status), retry_after=retry_after, count=count,
            probability=probability, delay=float(delay), message=message, body=body, after=int(after),
        )
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def add_dict(self, data: dict) -> FaultRule:
        """Add a rule from a JSON object (the control API's body)."""
        if not isinstance(data, dict) or "path" not in data:
            raise FaultRuleError("a fault rule needs at least 'path'")
        allowed = {"path", "method", "action", "status", "retry_after", "count", "probability", "delay", "message",
                   "body", "after"}
        unknown = set(data) - allowed
        if unknown:
            raise FaultRuleError(f"unknown fault rule keys: {', '.join(sorted(unknown))}")
        path = data["path"]
        rest = {k: v for k, v in data.items() if k != "path"}
        try:
            return self.add(path, **rest)
        except (TypeError, ValueError) as exc:
            raise FaultRuleError(f"invalid fault rule: {exc}") from exc

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, method: str, path: str, *aliases: str) -> tuple[float, Optional[FaultRule]]:
        """Return (total delay, the status/fail/body rule that fires or None) for a request, consuming budget;
        a rule matches the path or any of its ``aliases``."""
        delay = 0.0
        fired: Optional[FaultRule] = None
        with self._lock:
            for rule in self._rules:
                if rule.exhausted() or not rule.matches(method, path, *aliases):
                    continue
                if rule.action != "delay" and fired is not None:
                    continue
                if rule.probability is not None and self._random.random() >= rule.probability:
                    continue
                if rule.passed < rule.after:
                    rule.passed += 1
                    continue
                rule.hits += 1
                if rule.action == "delay":
                    delay += rule.delay
                else:
                    fired = rule
        return delay, fired
