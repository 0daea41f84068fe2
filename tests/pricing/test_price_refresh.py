"""pricing.refresh against a loopback Retail Prices API: paging, meter filtering, atomic write, errors.

Figures of the fixtures are real swedencentral answers (Retail Prices API snapshot, 2026-08-03): DS3 v2 Linux
0.272, its Spot 0.050266 and Low Priority 0.054 meters; the Windows meter's price is made up (it must be dropped).
"""

from __future__ import annotations

import socket
import urllib.parse
from datetime import date
from pathlib import Path

import pytest
from retail_api import RetailApi, item, serve

from generator import pricing
from generator.pricing import PricingError, load_table, refresh

TODAY = date(2026, 12, 1)
SIZES = ["Standard_DS3_v2", "Standard_E4s_v3", "Standard_NC24ads_A100_v4"]


def catalog_items() -> list[dict]:
    return [
        item("Standard_DS3_v2", "swedencentral", 0.050266, meter="DS3 v2 Spot", product="Virtual Machines DSv2 Series"),
        item("Standard_DS3_v2", "swedencentral", 0.5, product="Virtual Machines DSv2 Series Windows"),
        item("Standard_DS3_v2", "swedencentral", 0.054, meter="DS3 v2 Low Priority",
             product="Virtual Machines DSv2 Series"),
        item("Standard_DS3_v2", "swedencentral", 0.272, meter="DS3 v2", product="Virtual Machines DSv2 Series"),
        item("Standard_E4s_v3", "swedencentral", 0.268, meter="E4s v3", product="Virtual Machines ESv3 Series"),
        item("Standard_E4s_v3", "swedencentral", 0.1, kind="DevTestConsumption"),
        item("Standard_D2s_v3", "swedencentral", 0.102),  # not asked for
        item("Standard_DS3_v2", "northeurope", 0.263, product="Virtual Machines DSv2 Series"),
        item("Standard_NC24ads_A100_v4", "northeurope", 9.99, meter="NC24ads A100 v4 Spot"),
        item("Standard_E4s_v3", "northeurope", 0.282),
        item("Standard_E4s_v3", "northeurope", 0.282, unit="1/Month"),
    ]


def test_refresh_pages_filters_and_writes(tmp_path: Path) -> None:
    dest = tmp_path / "infra" / "prices.yaml"
    with serve(RetailApi(catalog_items(), page_size=2)) as api:
        result = refresh(dest, regions=["SwedenCentral", "northeurope"], sizes=SIZES, base_url=api.base_url,
                         today=TODAY)
    # one query per region, followed over several pages
    firsts = [r for r in api.requests if "$skip" not in r]
    assert len(firsts) == 2 and len(api.requests) > 2
    for query in firsts:
        flt = query["$filter"]
        assert "serviceName eq 'Virtual Machines'" in flt and "priceType eq 'Consumption'" in flt
        for size in SIZES:
            assert f"armSkuName eq '{size}'" in flt
    assert {r["$filter"].split("armRegionName eq '")[1].split("'")[0] for r in firsts} == {"northeurope",
                                                                                         "swedencentral"}
    # the file: Linux pay-as-you-go only, unknowns left out and reported
    table = load_table(path=dest)
    assert table.hourly("Standard_DS3_v2", "swedencentral") == 0.272  # not Spot, Low Priority or Windows
    assert table.hourly("Standard_E4s_v3", "swedencentral") == 0.268  # not DevTest
    assert table.hourly("Standard_DS3_v2", "northeurope") == 0.263
    assert table.hourly("Standard_E4s_v3", "northeurope") == 0.282
    assert table.hourly("Standard_NC24ads_A100_v4", "northeurope") is None  # only a Spot meter exists
    assert table.hourly("Standard_D2s_v3", "swedencentral") is None  # not requested
    assert sorted(result.missing) == [("northeurope", "Standard_NC24ads_A100_v4"),
                                      ("swedencentral", "Standard_NC24ads_A100_v4")]
    f = table.files[0]
    assert f.as_of == TODAY and api.base_url in f.source and "armSkuName eq '<size>'" in f.source
    assert "Spot, Low Priority and Windows excluded" in f.source
    assert result.table.prices.keys() == f.prices.keys()
    assert pricing.staleness_warning(table, today=TODAY) is None
    assert [p.name for p in dest.parent.iterdir()] == ["prices.yaml"]  # no temporary file left behind


def test_refresh_output_is_stable_and_overrides_the_package(tmp_path: Path) -> None:
    project = tmp_path / "project"
    dest = project / "infra" / "prices.yaml"
    with serve(RetailApi(catalog_items(), page_size=3)) as api:
        refresh(dest, regions=["swedencentral"], sizes=SIZES, base_url=api.base_url, today=TODAY)
        first = dest.read_text()
        refresh(dest, regions=["swedencentral"], sizes=list(reversed(SIZES)), base_url=api.base_url, today=TODAY)
    assert dest.read_text() == first
    assert first.index("Standard_DS3_v2") < first.index("Standard_E4s_v3")
    table = load_table(project)
    assert table.price("Standard_DS3_v2", "swedencentral").file == "infra/prices.yaml"
    assert table.hourly("Standard_E8s_v3", "swedencentral") == 0.536  # from the package table


def test_newest_meter_wins(tmp_path: Path) -> None:
    items = [item("Standard_DS3_v2", "westeurope", 0.25, start="2023-01-01T00:00:00Z"),
             item("Standard_DS3_v2", "westeurope", 0.272, start="2025-06-01T00:00:00Z"),
             item("Standard_DS3_v2", "westeurope", 0.26, start="2024-01-01T00:00:00Z")]
    dest = tmp_path / "p.yaml"
    with serve(RetailApi(items, page_size=1)) as api:
        refresh(dest, regions=["westeurope"], sizes=["Standard_DS3_v2"], base_url=api.base_url, today=TODAY)
    assert load_table(path=dest).hourly("Standard_DS3_v2", "westeurope") == 0.272


def test_default_sizes_are_the_catalog_minus_retired(tmp_path: Path) -> None:
    dest = tmp_path / "p.yaml"
    with serve(RetailApi(catalog_items(), page_size=50)) as api:
        result = refresh(dest, regions=["swedencentral"], base_url=api.base_url, today=TODAY)
    flt = urllib.parse.unquote(api.requests[0]["$filter"])
    assert "armSkuName eq 'Standard_NC24ads_A100_v4'" in flt and "armSkuName eq 'Standard_NC6s_v3'" not in flt
    missing = {size for _, size in result.missing}
    assert "Standard_NC6s_v3" not in missing and "Standard_NC96ads_A100_v4" in missing
    assert load_table(path=dest).hourly("standard_ds3_v2", "swedencentral") == 0.272


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda api: api.fail_status.update(northeurope=429), "throttled the request (HTTP 429) (Retry-After: 7s)"),
        (lambda api: api.fail_status.update(northeurope=503), "answered HTTP 503"),
        (lambda api: api.garbage_for.add("northeurope"), "is not JSON"),
        (lambda api: api.foreign_next_for.add("northeurope"), "NextPageLink leaves"),
    ],
    ids=["throttled", "server-error", "not-json", "foreign-next-page"],
)
def test_errors_write_nothing(tmp_path: Path, setup, message: str) -> None:
    dest = tmp_path / "infra" / "prices.yaml"
    dest.parent.mkdir(parents=True)
    dest.write_text("previous table\n")
    api = RetailApi(catalog_items(), page_size=1)
    setup(api)
    with serve(api), pytest.raises(PricingError) as err:  # swedencentral succeeds first, northeurope fails
        refresh(dest, regions=["swedencentral", "northeurope"], sizes=SIZES, base_url=api.base_url, today=TODAY)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert dest.read_text() == "previous table\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["prices.yaml"]


def test_unreachable_api_writes_nothing(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "prices.yaml"
    with pytest.raises(PricingError) as err:
        refresh(dest, regions=["eastus"], sizes=SIZES, base_url=f"http://127.0.0.1:{port}/api/retail/prices",
                today=TODAY, timeout=5)
    assert str(err.value).startswith("Azure Retail Prices API unreachable at 127.0.0.1:") and "\n" not in str(err.value)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_refresh_needs_regions_and_sizes(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="at least one region"):
        refresh(tmp_path / "p.yaml", regions=[], sizes=SIZES, base_url="http://127.0.0.1:9/x")
    with pytest.raises(PricingError, match="at least one region"):
        refresh(tmp_path / "p.yaml", regions=["eastus"], sizes=[], base_url="http://127.0.0.1:9/x")


def test_linux_payg_meter_filter() -> None:
    base = item("Standard_DS3_v2", "eastus", 0.229, product="Virtual Machines DSv2 Series")
    assert pricing.is_linux_payg(base)
    assert not pricing.is_linux_payg({**base, "meterName": "DS3 v2 Spot", "skuName": "DS3 v2 Spot"})
    assert not pricing.is_linux_payg({**base, "skuName": "DS3 v2 Low Priority"})
    assert not pricing.is_linux_payg({**base, "productName": "Virtual Machines DSv2 Series Windows"})
    assert not pricing.is_linux_payg({**base, "type": "Reservation"})
    assert not pricing.is_linux_payg({**base, "retailPrice": 0})
    assert not pricing.is_linux_payg({**base, "currencyCode": "EUR"})
