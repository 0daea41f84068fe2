"""Plan output: text (a terminal), markdown (a pull-request comment), json; costs and destructive changes in each."""

from __future__ import annotations

from typing import Any

from . import costs
from .plan import CREATE, NOOP, RAN, REPLACE, UPDATE, Plan, PlanItem

# --------------------------------------------------------------------------- output
SYMBOL = {CREATE: "+", UPDATE: "~", REPLACE: "-/+", NOOP: "=", RAN: "*"}


def _show(value: Any) -> str:
    import json

    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, default=str, sort_keys=True)


def _label(item: PlanItem) -> str:
    if item.action == RAN:
        return f"already ran ({item.status})"
    text = item.action + (" (expired)" if item.expired else "")
    if item.destructive and item.changing:
        text += " (destructive)" if item.action != REPLACE else ""
    return text


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    text = f"{c[CREATE]} to create, {c[UPDATE]} to update"
    if c[REPLACE]:
        text += f", {c[REPLACE]} to replace"
    text += f", {c[NOOP]} unchanged"
    if c[RAN]:
        text += f", {c[RAN]} job{'s' if c[RAN] > 1 else ''} already ran"
    if plan.destructive:
        text += f"; {len(plan.destructive)} destructive"
    return text


def format_text(plan: Plan) -> str:

    lines = [f"Plan for {plan.env} in workspace {plan.workspace}:"]
    width = max((len(f"{i.kind} {i.name}") for i in plan.items), default=10)
    for item in plan.items:
        head = f"{item.kind} {item.name}"
        lines.append(f"  {SYMBOL[item.action]:>3} {head:<{width}}  {_label(item)}")
        for ch in item.changes:
            lines.append(f"      {ch.field}: {_show(ch.live)} -> {_show(ch.wanted)}")
        if item.note and item.changing:
            lines.append(f"      ! {item.note}" if item.destructive else f"      {item.note}")
        if item.cost is not None and item.changing:
            lines.append(f"      $ {costs.describe(item)}")
    lines.append(("Changes: " if plan.has_changes else "No changes: ") + summary_line(plan) + ".")
    if plan.destructive:
        lines.append("Destructive: " + "; ".join(_destructive(i) for i in plan.destructive) + ".")
    lines.extend(costs.summary(plan))
    return "\n".join(lines) + "\n"


def _destructive(item: PlanItem) -> str:
    what = "replace" if item.action == REPLACE else "traffic move" if item.note == "traffic move" else item.action
    return f"{item.kind} {item.name} ({what})"


def format_markdown(plan: Plan) -> str:

    lines = [f"### amlgen plan: `{plan.env}`", "", f"Workspace: `{plan.workspace}`", "",
             "| | Resource | Name | Action | Changes | Cost |", "|---|---|---|---|---|---|"]
    for item in plan.items:
        changes = [f"`{c.field}`: `{_show(c.live)}` → `{_show(c.wanted)}`" for c in item.changes]
        if item.note and item.destructive and item.changing:
            changes.append(f"**⚠ {item.note}**")
        elif item.note and item.changing:
            changes.append(item.note)
        label = _label(item)
        if item.destructive and item.changing:
            label = f"**{label}**"
        cost = costs.describe(item) if item.changing else ""
        lines.append(f"| {SYMBOL[item.action]} | {item.kind} | `{item.name}` | {label} | "
                     f"{'<br>'.join(changes).replace('|', '&#124;')} | {cost.replace('|', '&#124;')} |")
    lines += ["", f"**{summary_line(plan)}**" if plan.has_changes else f"No changes ({summary_line(plan)})."]
    if plan.destructive:
        lines += ["", f"**⚠ Destructive:** {'; '.join(_destructive(i) for i in plan.destructive)}."]
    for line in costs.summary(plan):
        if line.startswith("COST ABOVE THRESHOLD"):
            line = f"**⚠ {line}**"
        elif line.startswith("warning: "):
            line = f"> ⚠ {line.removeprefix('warning: ')}"
        lines += ["", line]
    return "\n".join(lines) + "\n"


def format_json(plan: Plan) -> str:
    import json

    return json.dumps(plan.to_dict(), indent=2, default=str, sort_keys=False) + "\n"


def format_plan(plan: Plan, fmt: str) -> str:
    return {"text": format_text, "json": format_json, "markdown": format_markdown}[fmt](plan)
