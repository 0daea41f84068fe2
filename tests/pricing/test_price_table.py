"""The shipped price table and the cost arithmetic on it (generator/pricing.py, generator/catalog/prices.yaml)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from generator import pricing
from generator.catalog import sku_catalog
from generator.pricing import PricingError, load_table

PACKAGE_TABLE = Path(pricing.__file__).parent / "catalog" / "prices.yaml"


@pytest.fixture(scope="module")
def table() -> pricing.PriceTable:
    return load_table()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the shipped table
def test_package_table_is_internally_consistent(table) -> None:
    raw = yaml.safe_load(PACKAGE_TABLE.read_text())
    assert raw["currency"] == "USD" and raw["os"] == "Linux" and raw["price_type"] == "Consumption"
    assert "prices.azure.com/api/retail/prices" in raw["source"]
    assert isinstance(raw["as_of"], date)
    entries = table.entries()
    assert len(entries) >= 20
    catalog = sku_catalog()
    for p in entries:
        sku = catalog.get(p.size.lower())
        assert sku is not None, f"{p.region}/{p.size} is not in generator/catalog/skus.yaml"
        assert sku.name == p.size, f"{p.region}/{p.size}: spell it as the SKU catalog does ({sku.name})"
        assert not sku.retired, f"{p.region}/{p.size} is retired: drop its price"
        assert p.hourly > 0 and math.isfinite(p.hourly)
        assert p.region in pricing.DEFAULT_REGIONS
        assert p.source and isinstance(p.as_of, date) and p.as_of <= date(2026, 12, 1)
        assert raw["as_of"] <= p.as_of, "the top-level as_of is the oldest region's"


def test_prices_of_one_family_scale_with_size(table) -> None:
    """A cheap consistency check on transcription: within ESv3, price doubles with the vCPU count."""
    for region in ("swedencentral", "northeurope", "westeurope"):
        e4 = table.hourly("Standard_E4s_v3", region)
        for size, factor in [("Standard_E8s_v3", 2), ("Standard_E16s_v3", 4), ("Standard_E32s_v3", 8)]:
            assert table.hourly(size, region) == pytest.approx(e4 * factor, rel=1e-9), (region, size)


# --------------------------------------------------------------------------- lookups
def test_lookup_is_case_insensitive(table) -> None:
    assert table.hourly("Standard_DS3_v2", "swedencentral") == 0.272
    assert table.hourly("standard_ds3_v2", "SwedenCentral") == 0.272
    assert pricing.hourly("STANDARD_NC4AS_T4_V3", "eastus") == 0.526
    assert table.price("standard_e4s_v3", "westeurope").size == "Standard_E4s_v3"


def test_unknown_is_none_never_zero(table) -> None:
    assert table.hourly("Standard_DS3_v2", "eastus2") is None  # size known, region not priced
    assert table.hourly("Standard_NC24ads_A100_v4", "swedencentral") is None  # not priced there
    assert table.hourly("Standard_Bogus_v9", "eastus") is None
    assert table.hourly("Standard_DS3_v2", "marsnorth") is None
    assert pricing.cluster_cost("Standard_Bogus_v9", "eastus", 0, 4) is None
    assert pricing.deployment_cost("Standard_DS3_v2", "eastus2", 1) is None


# --------------------------------------------------------------------------- arithmetic
def test_monthly_is_730_hours() -> None:
    assert pricing.HOURS_PER_MONTH == 730
    assert pricing.monthly(1.0) == 730.0
    assert pricing.monthly(0.526) == pytest.approx(383.98)
    assert pricing.Cost(2.0).monthly == 1460.0


def test_cluster_cost_range(table) -> None:
    c = pricing.cluster_cost("Standard_ND96asr_v4", "eastus", 0, 2, table)
    assert c.per_node.hourly == 27.197 and c.per_node.region == "eastus"
    assert c.min.hourly == 0.0 and c.min.monthly == 0.0
    assert c.max.hourly == pytest.approx(54.394) and c.max.monthly == pytest.approx(54.394 * 730)
    c = pricing.cluster_cost("standard_e8s_v3", "northeurope", 1, 3, table)
    assert (c.min.hourly, c.max.hourly) == (pytest.approx(0.564), pytest.approx(1.692))
    with pytest.raises(ValueError):
        pricing.cluster_cost("Standard_E8s_v3", "northeurope", 3, 1, table)
    with pytest.raises(ValueError):
        pricing.cluster_cost("Standard_E8s_v3", "northeurope", -1, 1, table)


def test_deployment_cost(table) -> None:
    d = pricing.deployment_cost("Standard_NC4as_T4_v3", "eastus", 2, table)
    assert d.hourly == pytest.approx(1.052) and d.monthly == pytest.approx(1.052 * 730)
    assert pricing.deployment_cost("Standard_NC4as_T4_v3", "eastus", 0, table).hourly == 0.0
    with pytest.raises(ValueError):
        pricing.deployment_cost("Standard_NC4as_T4_v3", "eastus", -2, table)


# --------------------------------------------------------------------------- staleness
def test_staleness_warning(table) -> None:
    oldest = min(f.as_of for f in table.files)
    assert pricing.staleness_warning(table, today=oldest + timedelta(days=30)) is None
    assert pricing.staleness_warning(table, today=oldest + timedelta(days=90)) is None
    warning = pricing.staleness_warning(table, today=oldest + timedelta(days=91))
    assert warning is not None and "\n" not in warning
    assert "91 days old" in warning and oldest.isoformat() in warning and "prices.yaml" in warning
    assert pricing.staleness_warning(table, today=oldest + timedelta(days=11), max_age_days=10) is not None


# --------------------------------------------------------------------------- project override
OVERRIDE = """\
currency: USD
as_of: 2026-11-30
source: test override
regions:
  swedencentral:
    prices:
      standard_ds3_v2: 0.5
      Standard_NC24ads_A100_v4: 4.2
  eastus2:
    as_of: 2026-11-01
    source: hand-copied from the portal
    prices:
      Standard_NC4as_T4_v3: 0.6
"""


def test_project_override_takes_precedence(tmp_path: Path) -> None:
    write(tmp_path / "infra" / "prices.yaml", OVERRIDE)
    table = load_table(tmp_path)
    assert [f.path for f in table.files] == ["infra/prices.yaml", "generator/catalog/prices.yaml"]
    assert table.hourly("Standard_DS3_v2", "swedencentral") == 0.5  # override wins
    assert table.hourly("Standard_NC24ads_A100_v4", "swedencentral") == 4.2  # override adds
    assert table.hourly("Standard_E4s_v3", "swedencentral") == 0.268  # package fills the rest
    p = table.price("Standard_NC4as_T4_v3", "eastus2")
    assert (p.hourly, p.as_of, p.source, p.file) == (0.6, date(2026, 11, 1), "hand-copied from the portal",
                                                      "infra/prices.yaml")
    assert table.price("Standard_DS3_v2", "swedencentral").as_of == date(2026, 11, 30)
    assert pricing.cluster_cost("Standard_NC24ads_A100_v4", "swedencentral", 0, 2, table).max.hourly == 8.4
    # without an override file (or without a project root) the package table alone answers
    assert load_table(tmp_path / "elsewhere").hourly("Standard_DS3_v2", "swedencentral") == 0.272
    assert load_table().hourly("Standard_DS3_v2", "swedencentral") == 0.272
    # an explicit path is read alone
    only = load_table(path=tmp_path / "infra" / "prices.yaml")
    assert only.hourly("Standard_E4s_v3", "swedencentral") is None


def test_staleness_of_override_and_package_are_both_checked(tmp_path: Path) -> None:
    write(tmp_path / "infra" / "prices.yaml", OVERRIDE)
    table = load_table(tmp_path)
    fresh_day = date(2026, 12, 2)
    warning = pricing.staleness_warning(table, today=fresh_day)
    assert warning is not None and "generator/catalog/prices.yaml" in warning  # the package part is old
    only = load_table(path=tmp_path / "infra" / "prices.yaml")
    assert pricing.staleness_warning(only, today=fresh_day) is None
    assert "prices.yaml" in pricing.staleness_warning(only, today=date(2027, 3, 1))


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("      Standard_DS3_v2: 0\n", 7, "must be positive"),
        ("      Standard_DS3_v2: -0.2\n", 7, "must be positive"),
        ("      Standard_DS3_v2: cheap\n", 7, "expected an hourly price"),
        ("      Standard_DS3_v2: true\n", 7, "expected an hourly price"),
        ("      Standard_DS3_v2: 0.1\n      standard_ds3_v2: 0.2\n", 8, "listed twice"),
    ],
)
def test_malformed_prices_name_file_and_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    head = "currency: USD\nas_of: 2026-11-30\nsource: x\nregions:\n  eastus:\n    prices:\n"
    write(tmp_path / "infra" / "prices.yaml", head + body)
    with pytest.raises(PricingError) as err:
        load_table(tmp_path)
    text = str(err.value)
    assert text.startswith(f"infra/prices.yaml:{line}: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency: EUR\nas_of: 2026-11-30\nsource: x\nregions: {eastus: {prices: {}}}\n", "only USD"),
        ("as_of: last week\nsource: x\nregions: {eastus: {prices: {}}}\n", "as_of: expected a date"),
        ("as_of: 2026-11-30\nregions: {eastus: {prices: {}}}\n", "source:"),
        ("as_of: 2026-11-30\nsource: x\n", "regions:"),
        ("as_of: 2026-11-30\nsource: x\nregions: {East US: {prices: {}}}\n", "ARM region name"),
        ("as_of: 2026-11-30\nsource: x\nregions: {eastus: {price: {}}}\n", "expected a mapping with 'prices'"),
        ("as_of: 2026-11-30\nsource: x\nregion: {}\n", "unknown key 'region'"),
        ("as_of: 2026-11-30\nsource: x\nregions: {eastus: {prices: {}}}\nregions: {}\n", "duplicate key"),
        ("- just\n- a list\n", "a price table is a mapping"),
        ("as_of: 2026-11-30\nsource: [x\n", "malformed YAML"),
    ],
)
def test_malformed_tables_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "prices.yaml", text)
    with pytest.raises(PricingError) as err:
        load_table(path=path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_override_path_is_an_error_when_named(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="file not found"):
        load_table(path=tmp_path / "nope.yaml")
