"""VM prices for "cost in every plan": an offline, dated price table and the arithmetic on it.

Prices are hourly USD, Linux, pay-as-you-go (the Azure Retail Prices API's ``Consumption`` price type, without
Spot and Low Priority meters). The package ships ``generator/catalog/prices.yaml``; a project may put its own
table in ``infra/prices.yaml`` (for example one written by :func:`refresh`), whose entries take precedence.
A price that is not in any table is *unknown* (``None``), never 0.

Pure: nothing here touches the network except :func:`refresh`, and only when called.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .catalog import CATALOG_DIR, sku_catalog
from .errors import AmlgenError, ConfigError
from .yamlutil import Origins, load_with_origins

DEFAULT_TABLE = CATALOG_DIR / "prices.yaml"
OVERRIDE_TABLE = Path("infra") / "prices.yaml"  # relative to a project root
RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
HOURS_PER_MONTH = 730  # Azure's pricing calculator month
STALE_AFTER_DAYS = 90
DEFAULT_REGIONS = ("eastus", "eastus2", "westus3", "swedencentral", "northeurope", "westeurope")
FILTER_TEMPLATE = (
    "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and armRegionName eq '<region>' "
    "and armSkuName eq '<size>'"
)
SOURCE = f"{RETAIL_PRICES_URL}?$filter={FILTER_TEMPLATE} (Linux meters; Spot, Low Priority and Windows excluded)"


class PricingError(AmlgenError):
    """A price table is malformed, or the Azure Retail Prices API could not be used."""


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Price:
    size: str  # as spelled in the table
    region: str
    hourly: float
    as_of: date
    source: str
    file: str

    @property
    def monthly(self) -> float:
        return monthly(self.hourly)


@dataclass(frozen=True)
class PriceFile:
    """One parsed price file: ``prices[region][size.lower()] -> Price``."""

    path: str
    as_of: date  # the oldest date of any region in the file
    source: str
    prices: Mapping[str, Mapping[str, Price]]

    def __len__(self) -> int:
        return sum(len(p) for p in self.prices.values())


@dataclass(frozen=True)
class PriceTable:
    """Price files in order of precedence (a project's override first, the package table last)."""

    files: tuple[PriceFile, ...]

    def price(self, size: str, region: str) -> Price | None:
        key, reg = size.strip().lower(), region.strip().lower()
        for f in self.files:
            found = f.prices.get(reg, {}).get(key)
            if found is not None:
                return found
        return None

    def hourly(self, size: str, region: str) -> float | None:
        found = self.price(size, region)
        return None if found is None else found.hourly

    def regions(self) -> list[str]:
        return sorted({r for f in self.files for r in f.prices})

    def entries(self) -> list[Price]:
        """Every effective price (override entries hide the package's), sorted by region and size."""
        seen: dict[tuple[str, str], Price] = {}
        for f in self.files:
            for region, by_size in f.prices.items():
                for key, p in by_size.items():
                    seen.setdefault((region, key), p)
        return [seen[k] for k in sorted(seen)]


def load_table(project_root: Path | None = None, *, path: Path | None = None) -> PriceTable:
    """The price table: ``path`` alone when given; else ``<project_root>/infra/prices.yaml`` (when it exists)
    over the package table."""
    if path is not None:
        return PriceTable((read_price_file(path),))
    files = []
    if project_root is not None:
        override = project_root / OVERRIDE_TABLE
        if override.is_file():
            files.append(read_price_file(override, display=str(OVERRIDE_TABLE), root=project_root))
    files.append(_package_file())
    return PriceTable(tuple(files))


@cache
def _package_file() -> PriceFile:
    return read_price_file(DEFAULT_TABLE, display="generator/catalog/prices.yaml")


def read_price_file(path: Path, *, display: str | None = None, root: Path | None = None) -> PriceFile:
    shown = display or str(path)
    try:
        data, origins = load_with_origins(path, display=shown, root=root)
    except ConfigError as exc:
        raise PricingError(exc.message, where=exc.where) from None
    return parse_price_file(data, origins, shown)


def parse_price_file(data: Any, origins: Origins, shown: str) -> PriceFile:
    def where(*key: str | int) -> str:
        for n in range(len(key), -1, -1):
            if key[:n] in origins:
                file, line = origins[key[:n]]
                return f"{file}:{line}"
        return shown

    def fail(message: str, *key: str | int) -> PricingError:
        return PricingError(message, where=where(*key))

    if not isinstance(data, dict):
        raise fail("a price table is a mapping with currency, as_of, source and regions")
    unknown = set(data) - {"currency", "unit", "os", "price_type", "as_of", "source", "regions"}
    if unknown:
        raise fail(f"unknown key '{sorted(unknown)[0]}'", sorted(unknown)[0])
    if data.get("currency", "USD") != "USD":
        raise fail(f"currency: only USD is supported, got {data.get('currency')!r}", "currency")
    top_as_of = _as_of(data.get("as_of"), fail, "as_of")
    top_source = _source(data.get("source"), fail, "source")
    regions = data.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise fail("regions: expected a mapping of region -> {prices: {size: hourly USD}}", "regions")
    prices: dict[str, dict[str, Price]] = {}
    oldest = top_as_of
    for region, body in regions.items():
        at = ("regions", region)
        if not isinstance(region, str) or region != region.lower() or not region.isalnum():
            raise fail(f"region '{region}': write the ARM region name (lowercase, e.g. eastus2)", *at)
        if not isinstance(body, dict) or "prices" not in body:
            raise fail(f"region '{region}': expected a mapping with 'prices' (and optional as_of, source)", *at)
        extra = set(body) - {"prices", "as_of", "source"}
        if extra:
            raise fail(f"region '{region}': unknown key '{sorted(extra)[0]}'", *at, sorted(extra)[0])
        as_of = _as_of(body["as_of"], fail, *at, "as_of") if "as_of" in body else top_as_of
        source = _source(body["source"], fail, *at, "source") if "source" in body else top_source
        oldest = min(oldest, as_of)
        by_size: dict[str, Price] = {}
        entries = body["prices"] or {}
        if not isinstance(entries, dict):
            raise fail(f"region '{region}': prices must map VM size -> hourly USD", *at, "prices")
        for size, value in entries.items():
            key = (*at, "prices", size)
            if not isinstance(size, str) or not size.strip():
                raise fail("a VM size must be a string", *key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise fail(f"{region}/{size}: expected an hourly price in USD, got {value!r}", *key)
            if value <= 0:
                raise fail(f"{region}/{size}: a price must be positive (leave unknown prices out)", *key)
            if size.lower() in by_size:
                raise fail(f"{region}/{size}: listed twice (sizes are case-insensitive)", *key)
            by_size[size.lower()] = Price(size, region, float(value), as_of, source, shown)
        prices[region] = by_size
    return PriceFile(shown, oldest, top_source, prices)


def _as_of(value: Any, fail: Any, *key: str | int) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise fail(f"as_of: expected a date (YYYY-MM-DD), got {value!r}", *key)


def _source(value: Any, fail: Any, *key: str | int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail("source: say where the prices come from (API query or page)", *key)
    return value.strip()


@cache
def _default_table() -> PriceTable:
    return PriceTable((_package_file(),))


# --------------------------------------------------------------------------- arithmetic
def monthly(hourly_usd: float) -> float:
    """A month of ``hourly_usd`` (730 hours, as Azure's pricing calculator counts)."""
    return hourly_usd * HOURS_PER_MONTH


def hourly(size: str, region: str, table: PriceTable | None = None) -> float | None:
    """Hourly USD of one VM of ``size`` in ``region`` (case-insensitive size), or None when unknown."""
    return (table or _default_table()).hourly(size, region)


@dataclass(frozen=True)
class Cost:
    hourly: float

    @property
    def monthly(self) -> float:
        return monthly(self.hourly)


@dataclass(frozen=True)
class CostRange:
    """What a cluster costs while it runs ``min`` nodes (idle floor) and ``max`` nodes (fully scaled out)."""

    per_node: Price
    min: Cost
    max: Cost


def cluster_cost(
    size: str, region: str, min_nodes: int, max_nodes: int, table: PriceTable | None = None
) -> CostRange | None:
    """Cost range of a compute cluster scaling between ``min_nodes`` and ``max_nodes``; None when unknown."""
    if min_nodes < 0 or max_nodes < min_nodes:
        raise ValueError(f"node range {min_nodes}..{max_nodes} is not 0 <= min <= max")
    found = (table or _default_table()).price(size, region)
    if found is None:
        return None
    return CostRange(found, Cost(found.hourly * min_nodes), Cost(found.hourly * max_nodes))


def deployment_cost(size: str, region: str, instance_count: int, table: PriceTable | None = None) -> Cost | None:
    """Cost of an online deployment: ``instance_count`` x hourly; None when the price is unknown."""
    if instance_count < 0:
        raise ValueError(f"instance_count {instance_count} is negative")
    found = (table or _default_table()).hourly(size, region)
    return None if found is None else Cost(found * instance_count)


def staleness_warning(
    table: PriceTable | None = None, *, today: date | None = None, max_age_days: int = STALE_AFTER_DAYS,
    used: Iterable[tuple[str, str]] | None = None,
) -> str | None:
    """A one-line warning when a price in use is older than ``max_age_days``; None when all are fresh. ``used``: the
    (file, as_of YYYY-MM-DD) of the prices a plan used -- only those count (a region the plan does not price, dated
    older, does not); without it, every file of ``table`` at its oldest region's date."""
    today = today or datetime.now(UTC).date()
    if used is None:
        dated = [(f.path, f.as_of) for f in (table or _default_table()).files]
    else:
        dated = sorted(((path, date.fromisoformat(day)) for path, day in used if day), key=lambda pair: pair[1])
    for path, as_of in dated:
        age = (today - as_of).days
        if age > max_age_days:
            return (
                f"prices in {path} are {age} days old (as of {as_of.isoformat()}, limit {max_age_days} days): "
                "costs may be out of date; refresh them with `amlgen catalog prices --refresh` (writes infra/prices.yaml)"
            )
    return None


# --------------------------------------------------------------------------- refresh from the API
@dataclass
class RefreshResult:
    path: Path
    table: PriceFile
    missing: list[tuple[str, str]] = field(default_factory=list)  # (region, size) the API did not price


def refresh(
    dest: Path,
    *,
    regions: Iterable[str] = DEFAULT_REGIONS,
    sizes: Iterable[str] | None = None,
    base_url: str = RETAIL_PRICES_URL,
    today: date | None = None,
    timeout: float = 30.0,
    max_pages: int = 100,
) -> RefreshResult:
    """Fetch current Linux pay-as-you-go prices from the Azure Retail Prices API and write a new price table
    to ``dest`` (atomically; nothing is written when any request fails).

    ``sizes`` defaults to every VM size of the SKU catalog that is not retired. One query per region, following
    ``NextPageLink``; Spot, Low Priority and Windows meters are dropped.
    """
    wanted = _wanted_sizes(sizes)
    region_list = sorted({r.strip().lower() for r in regions if r.strip()})
    if not region_list or not wanted:
        raise PricingError("refresh needs at least one region and one VM size")
    today = today or datetime.now(UTC).date()
    prices: dict[str, dict[str, float]] = {}
    missing: list[tuple[str, str]] = []
    for region in region_list:
        found = _fetch_region(base_url, region, list(wanted.values()), timeout=timeout, max_pages=max_pages)
        prices[region] = {}
        for key, name in sorted(wanted.items()):
            if key in found:
                prices[region][name] = found[key]
            else:
                missing.append((region, name))
    text = render_table(prices, as_of=today, source=SOURCE.replace(RETAIL_PRICES_URL, base_url.rstrip("/")))
    parsed = parse_price_file(yaml.safe_load(text), {}, str(dest))  # what we write must load
    _write_atomic(dest, text)
    return RefreshResult(dest, parsed, missing)


def _wanted_sizes(sizes: Iterable[str] | None) -> dict[str, str]:
    if sizes is None:
        return {k: s.name for k, s in sku_catalog().items() if not s.retired}
    out: dict[str, str] = {}
    for s in sizes:
        known = sku_catalog().get(s.strip().lower())
        out[s.strip().lower()] = known.name if known else s.strip()
    return out


def query_url(base_url: str, region: str, sizes: list[str]) -> str:
    names = " or ".join(f"armSkuName eq '{s}'" for s in sorted(sizes))
    flt = (
        f"serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and armRegionName eq '{region}' "
        f"and ({names})"
    )
    return f"{base_url.rstrip('/')}?{urllib.parse.urlencode({'$filter': flt}, quote_via=urllib.parse.quote)}"


def is_linux_payg(item: Mapping[str, Any]) -> bool:
    """A Linux pay-as-you-go VM meter: not Spot, not Low Priority, not Windows, priced per hour."""
    names = " ".join(str(item.get(k, "")) for k in ("meterName", "skuName")).lower()
    if "spot" in names or "low priority" in names:
        return False
    if "windows" in str(item.get("productName", "")).lower():
        return False
    if item.get("type", "Consumption") != "Consumption" or item.get("currencyCode", "USD") != "USD":
        return False
    unit = str(item.get("unitOfMeasure", "1 Hour"))
    return unit == "1 Hour" and isinstance(item.get("retailPrice"), (int, float)) and item["retailPrice"] > 0


def _fetch_region(base_url: str, region: str, sizes: list[str], *, timeout: float, max_pages: int) -> dict[str, float]:
    url: str | None = query_url(base_url, region, sizes)
    origin = urllib.parse.urlsplit(url)[:2]
    best: dict[str, tuple[str, float]] = {}  # size.lower() -> (effectiveStartDate, price)
    for _ in range(max_pages):
        if not url:
            break
        page = _get_json(url, timeout=timeout)
        items = page.get("Items")
        if not isinstance(items, list):
            raise PricingError(f"Azure Retail Prices API: unexpected answer for {region} (no Items list)")
        for item in items:
            if not isinstance(item, dict) or str(item.get("armRegionName", region)).lower() != region:
                continue
            if not is_linux_payg(item):
                continue
            key = str(item.get("armSkuName", "")).lower()
            start = str(item.get("effectiveStartDate", ""))
            candidate = (start, float(item["retailPrice"]))
            if key and (key not in best or candidate > best[key]):
                best[key] = candidate  # the newest meter wins; on a tie the higher price (never under-quote)
        url = page.get("NextPageLink") or None
        if url and urllib.parse.urlsplit(url)[:2] != origin:
            raise PricingError(f"Azure Retail Prices API: NextPageLink leaves {origin[1]}: {url}")
    else:
        if url:
            raise PricingError(f"Azure Retail Prices API: more than {max_pages} pages for {region}; narrow the query")
    return {k: v[1] for k, v in best.items()}


def _get_json(url: str, *, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "amlgen-pricing"})
    host = urllib.parse.urlsplit(url).netloc
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, see query_url
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            retry = exc.headers.get("Retry-After") if exc.headers else None
            hint = f" (Retry-After: {retry}s)" if retry else ""
            raise PricingError(f"Azure Retail Prices API throttled the request (HTTP 429){hint}; try again later") from None
        raise PricingError(f"Azure Retail Prices API answered HTTP {exc.code} ({exc.reason}) for {host}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PricingError(f"Azure Retail Prices API unreachable at {host}: {reason}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise PricingError(f"Azure Retail Prices API: answer from {host} is not JSON") from None
    if not isinstance(data, dict):
        raise PricingError(f"Azure Retail Prices API: answer from {host} is not a JSON object")
    return data


def render_table(prices: Mapping[str, Mapping[str, float]], *, as_of: date, source: str) -> str:
    """A price table as YAML text (sorted, stable): the format ``read_price_file`` reads."""
    lines = [
        "# VM prices: hourly USD, Linux, pay-as-you-go (Azure Retail Prices API, priceType Consumption).",
        "# Written by amlgen (generator/pricing.py refresh). A size missing here is unknown, not free.",
        "currency: USD",
        "unit: 1 Hour",
        "os: Linux",
        "price_type: Consumption",
        f"as_of: {as_of.isoformat()}",
        f"source: {json.dumps(source)}",
        "regions:",
    ]
    for region in sorted(prices):
        lines.append(f"  {region}:")
        entries = prices[region]
        if not entries:
            lines.append("    prices: {}")
            continue
        lines.append("    prices:")
        for size in sorted(entries, key=str.lower):
            lines.append(f"      {size}: {_num(entries[size])}")
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _write_atomic(dest: Path, text: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
