"""A small DAG executor: run each node in a daemon thread as soon as its dependencies succeeded.

A failed node blocks its dependents (reported as skipped) while independent nodes keep running. With
``sequential=True`` nodes run one at a time in the given order (the notebook's order, for comparison).
Threads are daemons, so an interrupt (Ctrl-C) ends the process at once; ``stop`` tells running nodes to
give up at their next poll.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    key: str
    fn: Callable[[], Any]
    deps: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    key: str
    ok: bool
    result: Any = None
    error: BaseException | None = None
    skipped: bool = False
    seconds: float = 0.0


def run_dag(nodes: list[Node], *, sequential: bool = False, stop: threading.Event | None = None) -> dict[str, Outcome]:
    keys = {n.key for n in nodes}
    for node in nodes:
        missing = [d for d in node.deps if d not in keys]
        if missing:  # a dependency with no spec (e.g. serverless: no compute): nothing to wait for
            node.deps = [d for d in node.deps if d in keys]
    outcomes: dict[str, Outcome] = {}
    done: queue.Queue[Outcome] = queue.Queue()
    started: set[str] = set()
    stop = stop or threading.Event()

    def launch(node: Node) -> None:
        def body() -> None:
            t0 = time.monotonic()
            try:
                result = node.fn()
                done.put(Outcome(node.key, True, result, seconds=time.monotonic() - t0))
            except BaseException as exc:  # reported to the caller
                done.put(Outcome(node.key, False, error=exc, seconds=time.monotonic() - t0))

        started.add(node.key)
        threading.Thread(target=body, name=f"amlgen-{node.key}", daemon=True).start()

    def ready(node: Node) -> bool:
        return all(d in outcomes and outcomes[d].ok for d in node.deps)

    def blocked(node: Node) -> bool:
        return any(d in outcomes and not outcomes[d].ok for d in node.deps)

    try:
        while len(outcomes) < len(nodes):
            for node in nodes:
                if node.key in started or node.key in outcomes:
                    continue
                running = [k for k in started if k not in outcomes]
                if blocked(node):
                    outcomes[node.key] = Outcome(node.key, False, skipped=True)
                elif ready(node) and not (sequential and running):
                    launch(node)
                elif sequential:
                    break  # keep the order: wait for the running node
            if len(outcomes) >= len(nodes):
                break
            if not [k for k in started if k not in outcomes]:
                # nothing running and nothing launchable: a dependency cycle (should not happen)
                for node in nodes:
                    outcomes.setdefault(node.key, Outcome(node.key, False, skipped=True))
                break
            outcome = done.get()
            outcomes[outcome.key] = outcome
    except BaseException:
        stop.set()
        raise
    return outcomes
