"""Plan: read the live state of every resource of a specs directory and compare it, semantically, with the spec.

Both sides go through azure-ai-ml: the spec is loaded with ``load_*`` and the live resource is what ``get``
returns; both are dumped with the SDK's own ``_to_dict()`` (the YAML shape) and compared only on the fields
the spec sets, value by value (numbers as numbers, ARM ids as ``azureml:name:version``). Read-only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..workspace import Workspace
from .specs import Resource

CREATE, UPDATE, NOOP, RAN = "create", "update", "no change", "already ran"
# Fields that identify a resource (never a diff) or that the service derives.
IDENTITY = {"$schema", "name", "type", "version", "endpoint_name"}
IGNORED = {"model": {"path"}, "endpoint": {"traffic", "mirror_traffic"}}
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
    action: str  # create | update | no change | already ran
    status: str | None = None  # job status, provisioning state
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    @property
    def changing(self) -> bool:
        return self.action in (CREATE, UPDATE)


@dataclass
class Plan:
    env: str
    workspace: str
    items: list[PlanItem]

    @property
    def has_changes(self) -> bool:
        return any(i.changing for i in self.items)

    def counts(self) -> dict[str, int]:
        out = {CREATE: 0, UPDATE: 0, NOOP: 0, RAN: 0}
        for item in self.items:
            out[item.action] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env, "workspace": self.workspace, "changes": self.has_changes,
            "summary": {k.replace(" ", "_"): v for k, v in self.counts().items()},
            "resources": [asdict(i) for i in self.items],
        }


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
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return a == b


def diff(spec_fields: dict[str, Any], wanted: dict[str, Any], live: dict[str, Any], prefix: str = "",
         skip: set[str] = frozenset()) -> list[Change]:  # type: ignore[assignment]
    """Differences on the fields the spec sets (``spec_fields`` gives the keys; values come from the SDK dumps)."""
    out: list[Change] = []
    for key, spec_value in spec_fields.items():
        if not prefix and (key in IDENTITY or key in skip):
            continue
        path = f"{prefix}{key}"
        w = wanted.get(key, spec_value) if isinstance(wanted, dict) else spec_value
        lv = live.get(key) if isinstance(live, dict) else None
        if isinstance(spec_value, dict) and key != "tags" and isinstance(w, dict):
            out.extend(diff(spec_value, w, lv if isinstance(lv, dict) else {}, f"{path}."))
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


def compare(resource: Resource, live: Any, wanted_entity: Any) -> list[Change]:
    if resource.kind == "traffic":
        wanted = {k: int(v) for k, v in (resource.data.get("traffic") or {}).items()}
        current = {k: int(v) for k, v in (getattr(live, "traffic", None) or {}).items() if int(v)}
        wanted_nz = {k: v for k, v in wanted.items() if v}
        return [] if current == wanted_nz else [Change("traffic", current, wanted)]
    skip = IGNORED.get(resource.kind, set())
    return diff(resource.data, plain(wanted_entity), plain(live), skip=set(skip))


def state_of(live: Any) -> str | None:
    state = getattr(live, "provisioning_state", None)
    return None if state is None else str(plain(state))


# --------------------------------------------------------------------------- planning
def plan_resource(ws: Workspace, resource: Resource, root: Path | None = None) -> PlanItem:
    shown = _rel(resource.path, root)
    if resource.kind == "job":
        live = ws.get("job", resource.name)
        if live is None:
            return PlanItem("job", resource.name, shown, CREATE, note="submit (then wait for it)")
        return PlanItem("job", resource.name, shown, RAN, status=str(plain(live.status)))
    live = ws.get(resource.kind, resource.name, resource.version, endpoint=resource.endpoint)
    item = PlanItem(resource.kind, resource.shown, shown, NOOP)
    if live is None:
        item.action = CREATE
        if resource.kind == "traffic":
            item.changes = compare(resource, None, None)
        return item
    state = state_of(live)
    item.status = state
    item.changes = compare(resource, live, resource.load())
    if state and state.lower() == "failed":
        item.changes.insert(0, Change("provisioning_state", state, "Succeeded"))
    if resource.kind == "data":  # data versions are immutable: a changed spec has a new version
        item.changes = []
    if item.changes:
        item.action = UPDATE
    return item


def make_plan(ws: Workspace, env: str, resources: list[Resource], root: Path | None = None) -> Plan:
    ws.check()
    return Plan(env, ws.label, [plan_resource(ws, r, root) for r in resources])


def _rel(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


# --------------------------------------------------------------------------- output
SYMBOL = {CREATE: "+", UPDATE: "~", NOOP: "=", RAN: "*"}


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, default=str, sort_keys=True)


def _label(item: PlanItem) -> str:
    if item.action == RAN:
        return f"already ran ({item.status})"
    return item.action


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    text = f"{c[CREATE]} to create, {c[UPDATE]} to update, {c[NOOP]} unchanged"
    if c[RAN]:
        text += f", {c[RAN]} job{'s' if c[RAN] > 1 else ''} already ran"
    return text


def format_text(plan: Plan) -> str:
    lines = [f"Plan for {plan.env} in workspace {plan.workspace}:"]
    width = max((len(f"{i.kind} {i.name}") for i in plan.items), default=10)
    for item in plan.items:
        head = f"{i_kind(item)} {item.name}"
        lines.append(f"  {SYMBOL[item.action]} {head:<{width}}  {_label(item)}")
        for ch in item.changes:
            lines.append(f"      {ch.field}: {_show(ch.live)} -> {_show(ch.wanted)}")
    lines.append(("Changes: " if plan.has_changes else "No changes: ") + summary_line(plan) + ".")
    return "\n".join(lines) + "\n"


def i_kind(item: PlanItem) -> str:
    return item.kind


def format_markdown(plan: Plan) -> str:
    lines = [f"### amlgen plan: `{plan.env}`", "", f"Workspace: `{plan.workspace}`", "",
             "| | Resource | Name | Action | Changes |", "|---|---|---|---|---|"]
    for item in plan.items:
        changes = "<br>".join(f"`{c.field}`: `{_show(c.live)}` → `{_show(c.wanted)}`" for c in item.changes)
        lines.append(f"| {SYMBOL[item.action]} | {item.kind} | `{item.name}` | {_label(item)} | {changes.replace('|', '&#124;')} |")
    lines += ["", f"**{summary_line(plan)}**" if plan.has_changes else f"No changes ({summary_line(plan)})."]
    return "\n".join(lines) + "\n"


def format_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, default=str, sort_keys=False) + "\n"


def format_plan(plan: Plan, fmt: str) -> str:
    return {"text": format_text, "json": format_json, "markdown": format_markdown}[fmt](plan)
