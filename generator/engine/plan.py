"""Plan: read the live state of every resource of a specs folder and compare it, semantically, with the spec.

Both sides go through azure-ai-ml: the spec is loaded with ``load_*`` and the live resource is what ``get``
returns; both are dumped with the SDK's own ``_to_dict()`` (the YAML shape) and compared only on the fields
the spec sets, value by value (numbers as numbers, ARM ids as ``azureml:name:version``), after the
normalisation the kinds table declares per field (the service upper-cases a compute's vmSize). A change to a
field the service cannot change in place (``Kind.replace_on``) is a *replace*, with what it would interrupt.
Read-only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ..kinds import Kind
from ..workspace import Workspace
from .specs import Resource

CREATE, UPDATE, REPLACE, NOOP, RAN = "create", "update", "replace", "no change", "already ran"
ACTIONS = (CREATE, UPDATE, REPLACE, NOOP, RAN)
# Fields that identify a resource (never a diff).
IDENTITY = {"$schema", "name", "type", "version", "endpoint_name"}
ASSET_ID = re.compile(r"^(?:azureml:)?/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
                      r"(?:workspaces|registries)/[^/]+/(?P<kind>models|data|environments|components)/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$", re.I)


@dataclass
class Change:
    field: str
    live: Any
    wanted: Any


@dataclass
class PlanItem:
    kind: str
    name: str
    file: str
    action: str  # create | update | replace | no change | already ran
    status: str | None = None  # job status, provisioning state
    changes: list[Change] = field(default_factory=list)
    note: str = ""
    destructive: bool = False  # a replacement, a deletion or a traffic move
    cost: Any = None  # engine.costs.ItemCost (set by costs.annotate) for kinds billed by the hour
    expired: bool = False  # absent because its endpoint's ttl passed (engine.expiry): expected, not drift

    @property
    def changing(self) -> bool:
        return self.action in (CREATE, UPDATE, REPLACE)


@dataclass
class Plan:
    env: str
    workspace: str
    items: list[PlanItem]
    cost: Any = None  # engine.costs.PlanCost (set by costs.annotate)

    @property
    def has_changes(self) -> bool:
        return any(i.changing for i in self.items)

    @property
    def drift(self) -> bool:
        """Changes other than recreating an expired endpoint (what ``--detailed-exitcode`` reports)."""
        return any(i.changing and not i.expired for i in self.items)

    @property
    def destructive(self) -> list[PlanItem]:
        return [i for i in self.items if i.destructive and i.changing]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(ACTIONS, 0)
        for item in self.items:
            out[item.action] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        summary = {k.replace(" ", "_"): v for k, v in self.counts().items()}
        summary["destructive"] = len(self.destructive)
        resources = [{**asdict(i), "cost": i.cost.to_dict() if i.cost is not None else None} for i in self.items]
        return {"env": self.env, "workspace": self.workspace, "changes": self.has_changes, "summary": summary,
                "resources": resources, "cost": self.cost.to_dict() if self.cost is not None else None}


# --------------------------------------------------------------------------- comparison
def plain(value: Any) -> Any:
    """A comparable plain value: enums to their value, ARM asset ids to ``azureml:name:version``."""
    if hasattr(value, "_to_dict"):
        value = value._to_dict()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith("azure."):
        value = value.value
    if isinstance(value, str):
        m = ASSET_ID.match(value)
        if m:
            return f"azureml:{m['name']}:{m['ver']}"
    return value


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, (int, float, str)) and isinstance(b, (int, float, str)):
        try:
            return float(a) == float(b)
        except ValueError:
            return str(a) == str(b)
    return a == b


def diff(spec_fields: dict[str, Any], wanted: dict[str, Any], live: dict[str, Any], kind: Kind,
         prefix: str = "") -> list[Change]:
    """Differences on the fields the spec sets (``spec_fields`` gives the keys; values come from the SDK dumps)."""
    out: list[Change] = []
    for key, spec_value in spec_fields.items():
        if not prefix and (key in IDENTITY or key in kind.ignore):
            continue
        path = f"{prefix}{key}"
        w = wanted.get(key, spec_value) if isinstance(wanted, dict) else spec_value
        lv = live.get(key) if isinstance(live, dict) else None
        normalise = kind.compare.get(path)
        if normalise is not None:
            w, lv = normalise(w), normalise(lv)
        if isinstance(spec_value, dict) and key != "tags" and isinstance(w, dict):
            out.extend(diff(spec_value, w, lv if isinstance(lv, dict) else {}, kind, f"{path}."))
        elif key == "tags" and isinstance(w, dict):
            lv = lv if isinstance(lv, dict) else {}
            for tag, tv in w.items():
                if not same(tv, lv.get(tag)):
                    out.append(Change(f"tags.{tag}", lv.get(tag), tv))
        elif lv is None and w is None:
            continue
        elif not same(w, lv):
            out.append(Change(path, lv, w))
    return out


def traffic_of(entity: Any) -> dict[str, int]:
    return {k: int(v) for k, v in (getattr(entity, "traffic", None) or {}).items() if int(v)}


def compare(resource: Resource, live: Any, wanted_entity: Any) -> list[Change]:
    if resource.kind.routing:
        wanted = {k: int(v) for k, v in (resource.data.get("traffic") or {}).items()}
        current = traffic_of(live) if live is not None else {}
        return [] if current == {k: v for k, v in wanted.items() if v} else [Change("traffic", current, wanted)]
    return diff(resource.data, plain(wanted_entity), plain(live), resource.kind)


def state_of(live: Any) -> str | None:
    state = getattr(live, "provisioning_state", None)
    return None if state is None else str(plain(state))


# --------------------------------------------------------------------------- planning
def plan_resource(ws: Workspace, resource: Resource, rollout: Any = None) -> PlanItem:
    kind = resource.kind
    live = ws.get(resource.ref)
    if kind.run_once:
        if live is None:
            return PlanItem(kind.name, resource.shown, resource.shown_path, CREATE, note="submit (then wait for it)")
        return PlanItem(kind.name, resource.shown, resource.shown_path, RAN, status=str(plain(live.status)))
    item = PlanItem(kind.name, resource.shown, resource.shown_path, NOOP)
    if live is None:
        item.action = CREATE
        if kind.routing:
            item.changes = compare(resource, None, None)
        return item
    state = state_of(live)
    item.status = state
    item.changes = compare(resource, live, resource.load())
    if state and state.lower() == "failed":
        item.changes.insert(0, Change("provisioning_state", state, "Succeeded"))
    if kind.versioned and kind.name == "data":  # data versions are immutable: a changed spec has a new version
        item.changes = []
    if item.changes:
        item.action = UPDATE
        blocked = [c.field for c in item.changes if c.field in kind.replace_on]
        if blocked:
            item.action = REPLACE
            item.destructive = True
            item.note = f"{', '.join(blocked)} cannot change in place: delete and recreate" + _busy(ws, resource)
        elif kind.routing:
            item.destructive = True
            item.note = "traffic move"
            wanted = {k: int(v) for k, v in (resource.data.get("traffic") or {}).items() if int(v)}
            if rollout is not None and list(wanted.values()) == [100]:
                from .traffic import describe, live_state

                others = {k: v for k, v in live_state(live).traffic.items() if k not in wanted}
                old = max(others, key=others.get) if others else None  # type: ignore[arg-type]
                item.note = f"traffic move: {describe(rollout, next(iter(wanted)), old)}"
    return item


def _busy(ws: Workspace, resource: Resource) -> str:
    if resource.kind.name != "compute":
        return ""
    busy = busy_nodes(ws, resource.name)
    return f" (the cluster has {busy} busy node{'s' if busy != 1 else ''}: jobs running on it would be lost)" if busy \
        else " (the cluster is idle)"


def busy_nodes(ws: Workspace, compute: str) -> int:
    """Nodes of a cluster that are running or preparing jobs (what a replacement would interrupt)."""
    def count() -> int:
        nodes = list(ws.client.compute.list_nodes(compute))
        # azure-ai-ml 1.35.2 copies the REST names onto AmlComputeNodeInfo (nodeState); node_state stays None
        states = [str(vars(n).get("nodeState") or getattr(n, "node_state", None) or "") for n in nodes]
        return sum(1 for state in states if state.lower() in ("running", "preparing"))

    return ws.call("compute", compute, "list nodes", count)


def make_plan(ws: Workspace, env: str, resources: list[Resource], rollout: Any = None) -> Plan:
    ws.check()
    return Plan(env, ws.label, [plan_resource(ws, r, rollout) for r in resources])
