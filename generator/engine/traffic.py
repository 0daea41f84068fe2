"""An endpoint's live traffic and the steps of a rollout, as plain data (read by plan and by rollout)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import Rollout


@dataclass
class Live:
    traffic: dict[str, int]
    mirror: dict[str, int]


def live_state(entity: Any) -> Live:
    traffic = {k: int(v) for k, v in (getattr(entity, "traffic", None) or {}).items() if int(v)}
    mirror = {k: int(v) for k, v in (getattr(entity, "mirror_traffic", None) or {}).items() if int(v)}
    return Live(traffic, mirror)


def describe(rollout: Rollout, new: str, old: str | None) -> str:
    """The steps plan shows for a move of the endpoint's traffic to ``new``."""
    if old is None:
        return f"{'smoke test ' + new + ', then ' if rollout.smoke else ''}route 100% to {new}"
    parts = [f"smoke test {new}"] if rollout.smoke else []
    for step in rollout.steps:
        what = f"mirror {step.mirror}%" if step.mirror is not None else f"{step.traffic}% to {new}"
        parts.append(what + (f" (wait {step.wait}s)" if step.wait else ""))
    return "staged rollout from " + old + ": " + " -> ".join(parts) + f"; keep {rollout.keep} previous"


def resume_index(rollout: Rollout, live: Live, new: str) -> int:
    """The first step not yet reached by the live traffic (a re-run continues there)."""
    share, mirrored = live.traffic.get(new, 0), live.mirror.get(new, 0)
    index = 0
    for i, step in enumerate(rollout.steps):
        reached = (step.traffic is not None and share >= step.traffic) or \
                  (step.mirror is not None and (mirrored >= step.mirror or share > 0))
        if reached:
            index = i + 1
    return index
