"""Cost in every plan: what each change starts or stops per hour (and per month), from the offline price table.

Only resources that run VMs around the clock cost by the hour: a compute cluster (``min_instances`` nodes
always, up to ``max_instances`` when scaled out) and an online deployment (``instance_count`` instances).
Each is priced as a :class:`Rate` (``low``: what it costs idle, ``high``: fully scaled out) before and after
the change; the difference is what the change starts (a create), stops (a removal) or changes (an update or a
replacement). The live side is the spec with every changed field put back to its live value (``Change.live``),
so no extra read is needed.

A size without a price is *unknown*, never 0: the item says which size and region lack a price, and the total
says how many changes it leaves out. An environment's ``cost.monthly_threshold`` calls out a plan that may add
more than that per month. Pure: reads the plan, the specs and the price table only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import sku_catalog
from ..kinds import KINDS
from ..pricing import HOURS_PER_MONTH, PriceTable, staleness_warning
from .plan import CREATE, REPLACE, Plan, PlanItem

# kind -> (size field, low-count field, high-count field, default low, default high): the kinds table's `billed`
PRICED = {k.name: k.billed for k in KINDS if k.billed is not None}


@dataclass
class Rate:
    """Hourly USD of one resource: ``low`` idle (min nodes, or its instances), ``high`` fully scaled out."""

    size: str
    low_count: int
    high_count: int
    per_vm: float | None  # None: the size has no price in this region
    note: str = ""  # why there is no price
    source: str = ""  # the price file the price comes from
    as_of: str = ""  # the date of that price (its region's as_of), YYYY-MM-DD

    @property
    def low(self) -> float | None:
        return None if self.per_vm is None else self.per_vm * self.low_count

    @property
    def high(self) -> float | None:
        return None if self.per_vm is None else self.per_vm * self.high_count

    def shape(self, kind: str) -> str:
        count = f"{self.low_count}" if self.low_count == self.high_count else f"{self.low_count}-{self.high_count}"
        unit = "node" if kind == "compute" else "instance"
        return f"{count} {unit}{'s' if self.high_count != 1 else ''} x {self.size}"


@dataclass
class ItemCost:
    kind: str
    before: Rate | None  # None: the resource does not exist yet
    after: Rate | None  # None: the change removes it
    unknown: str = ""  # set when a price is missing: which size, which region
    delta_low: float | None = None  # USD/hour the change adds (negative: saves), idle
    delta_high: float | None = None  # ... fully scaled out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for side in ("before", "after"):
            rate = getattr(self, side)
            if rate is not None:
                out[side].update(hourly_low=rate.low, hourly_high=rate.high)
        out["monthly_delta_low"] = monthly(self.delta_low)
        out["monthly_delta_high"] = monthly(self.delta_high)
        return out


@dataclass
class PlanCost:
    region: str
    delta_low: float = 0.0  # USD/hour added by the priced changes, idle
    delta_high: float = 0.0  # ... fully scaled out
    priced_changes: int = 0  # changes with a known cost (the deltas add these up)
    after_low: float = 0.0  # the environment's priced resources after apply, idle
    after_high: float = 0.0
    unpriced: list[str] = field(default_factory=list)  # "compute gpu-a100-1x: no price for ... in ..."
    threshold: float | None = None  # cost.monthly_threshold
    threshold_where: str = ""
    over_threshold: bool = False
    warnings: list[str] = field(default_factory=list)  # a stale price table
    sources: list[str] = field(default_factory=list)  # the price files used, with their dates

    @property
    def monthly_delta_high(self) -> float:
        return self.delta_high * HOURS_PER_MONTH

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(monthly_delta_low=monthly(self.delta_low), monthly_delta_high=monthly(self.delta_high),
                   monthly_after_low=monthly(self.after_low), monthly_after_high=monthly(self.after_high))
        return out


def monthly(hourly: float | None) -> float | None:
    return None if hourly is None else round(hourly * HOURS_PER_MONTH, 2)


# --------------------------------------------------------------------------- computing
def _rate(kind: str, values: dict[str, Any], region: str, table: PriceTable) -> Rate:
    size_key, low_key, high_key, low_default, high_default = PRICED[kind]
    size = str(values.get(size_key) or "")
    known = sku_catalog().get(size.lower())
    size = known.name if known else size  # the service answers sizes upper-cased: show the catalog's spelling
    low = int(values.get(low_key, low_default) or 0)
    high = int(values.get(high_key, high_default) or 0)
    if kind == "compute" and str(values.get("tier", "dedicated")).lower() == "low_priority":
        return Rate(size, low, high, None, f"low-priority prices are not in the price table ({size} in {region})")
    price = table.price(size, region)
    if price is None:
        return Rate(size, low, high, None, f"no price for {size} in {region}")
    return Rate(price.size, low, high, price.hourly, source=price.file, as_of=price.as_of.isoformat())


def item_cost(item: PlanItem, spec: dict[str, Any], region: str, table: PriceTable) -> ItemCost | None:
    """What ``item`` costs before and after its change; None for kinds that do not bill by the hour."""
    if item.kind not in PRICED:
        return None
    wanted = dict(spec)
    after = _rate(item.kind, wanted, region, table)
    before: Rate | None = None
    if item.action != CREATE:
        live = dict(wanted)
        for change in item.changes:
            if change.field in (*PRICED[item.kind][:3], "tier"):
                live[change.field] = change.live
        before = _rate(item.kind, live, region, table)
    cost = ItemCost(item.kind, before, after)
    missing = [r.note for r in (before, after) if r is not None and r.per_vm is None]
    if missing:
        cost.unknown = "; ".join(dict.fromkeys(missing))
        return cost
    cost.delta_low = after.low - (before.low if before else 0.0)  # type: ignore[operator]
    cost.delta_high = after.high - (before.high if before else 0.0)  # type: ignore[operator]
    return cost


def annotate(plan: Plan, env: Any, resources: list[Any], table: PriceTable) -> PlanCost:
    """Attach an :class:`ItemCost` to every priced item of ``plan`` and the totals to ``plan.cost``."""
    region = env.config.workspace.location
    total = PlanCost(region)
    total.sources = [f"{f.path} (as of {f.as_of.isoformat()})" for f in table.files]
    specs = {(r.kind.name, r.shown): r.data for r in resources}
    for item in plan.items:
        spec = specs.get((item.kind, item.name))
        if spec is None:
            continue
        cost = item_cost(item, spec, region, table)
        item.cost = cost
        if cost is None:
            continue
        if cost.unknown:
            if item.changing:
                total.unpriced.append(f"{item.kind} {item.name}: {cost.unknown}")
            continue
        total.after_low += cost.after.low or 0.0  # type: ignore[union-attr]
        total.after_high += cost.after.high or 0.0  # type: ignore[union-attr]
        if item.changing:
            total.priced_changes += 1
            total.delta_low += cost.delta_low or 0.0
            total.delta_high += cost.delta_high or 0.0
    policy = getattr(env.config, "cost", None)
    if policy is not None and policy.monthly_threshold is not None:
        total.threshold = policy.monthly_threshold
        total.threshold_where = env.where("cost", "monthly_threshold").rsplit(": ", 1)[0]
        total.over_threshold = total.monthly_delta_high > policy.monthly_threshold
    used = {(r.source, r.as_of) for i in plan.items if i.cost is not None for r in (i.cost.before, i.cost.after)
            if r and r.source}
    stale = staleness_warning(table, used=used)  # only the prices this plan used, at their own dates
    if stale:
        total.warnings.append(stale)
    plan.cost = total
    return total


# --------------------------------------------------------------------------- wording
def usd(value: float, *, signed: bool = False) -> str:
    sign = ("+" if value > 0 else "-" if value < 0 else "") if signed else ("-" if value < 0 else "")
    amount = abs(value)
    text = f"{amount:,.2f}" if amount >= 0.995 or amount == 0 else f"{amount:.3f}"
    return f"{sign}${text}"


def span(low: float, high: float, *, signed: bool = False, per: str = "/h") -> str:
    if abs(high - low) < 1e-9:
        return f"{usd(low, signed=signed)}{per}"
    return f"{usd(low, signed=signed)} to {usd(high, signed=signed)}{per}"


def describe(item: PlanItem) -> str:
    """One line: what the change starts, stops or changes per hour and per month (or why it is unknown)."""
    cost: ItemCost | None = getattr(item, "cost", None)
    if cost is None:
        return ""
    shape = cost.after.shape(item.kind) if cost.after else cost.before.shape(item.kind)  # type: ignore[union-attr]
    if cost.before is not None and cost.after is not None:
        before_shape = cost.before.shape(item.kind)
        if before_shape != shape:
            shape = f"{before_shape} -> {shape}"
    if cost.unknown:
        return f"cost unknown: {cost.unknown} ({shape})"
    if not item.changing:
        assert cost.after is not None
        return f"runs at {span(cost.after.low, cost.after.high)} ({shape})"  # type: ignore[arg-type]
    assert cost.delta_low is not None and cost.delta_high is not None
    if item.action == CREATE:
        verb = "starts"
    elif item.action == REPLACE:
        verb = "replaces: changes cost by"
    else:
        verb = "changes cost by"
    if cost.delta_low == 0 and cost.delta_high == 0 and item.action != CREATE:
        return f"cost unchanged ({shape})"
    signed = item.action != CREATE
    return (f"{verb} {span(cost.delta_low, cost.delta_high, signed=signed)} "
            f"({span(cost.delta_low * HOURS_PER_MONTH, cost.delta_high * HOURS_PER_MONTH, signed=signed, per='/month')}; "
            f"{shape})")


def _both(low: float, high: float, *, signed: bool) -> str:
    """``+$0.53/h (+$383.98/month)``, or idle and scaled-out figures when they differ."""
    month = HOURS_PER_MONTH
    if abs(high - low) < 1e-9:
        return f"{usd(low, signed=signed)}/h ({usd(low * month, signed=signed)}/month)"
    return (f"{usd(low, signed=signed)}/h ({usd(low * month, signed=signed)}/month) idle, "
            f"{usd(high, signed=signed)}/h ({usd(high * month, signed=signed)}/month) fully scaled out")


def summary(plan: Plan) -> list[str]:
    """The plan's cost lines: the total the changes add (idle and scaled out), what is unpriced, the threshold."""
    total: PlanCost | None = getattr(plan, "cost", None)
    if total is None:
        return []
    head = f"Cost ({total.region}, USD, Linux pay-as-you-go):"
    if total.priced_changes:
        lines = [f"{head} this plan changes the cost by {_both(total.delta_low, total.delta_high, signed=True)}; "
                 f"after apply the environment's priced resources run at "
                 f"{_both(total.after_low, total.after_high, signed=False)}."]
    elif total.unpriced:
        lines = [f"{head} unknown: no change of this plan could be priced."]
    else:
        lines = [f"{head} this plan starts or stops nothing billed by the hour"
                 + (f"; the environment's priced resources run at {_both(total.after_low, total.after_high, signed=False)}."
                    if total.after_high else ".")]
    if total.unpriced:
        lines.append(f"Not priced ({len(total.unpriced)} change{'s' if len(total.unpriced) != 1 else ''}, left out of "
                     f"the total): {'; '.join(total.unpriced)}.")
    if total.over_threshold:
        lines.append(f"COST ABOVE THRESHOLD: this plan may add {usd(total.monthly_delta_high)}/month, more than the "
                     f"{usd(total.threshold or 0)}/month set in {total.threshold_where} (cost.monthly_threshold).")
    elif total.threshold is not None and total.unpriced:
        lines.append(f"The cost threshold ({usd(total.threshold)}/month, {total.threshold_where}) cannot be checked "
                     "for the unpriced changes.")
    lines.extend(f"warning: {w}" for w in total.warnings)
    return lines
