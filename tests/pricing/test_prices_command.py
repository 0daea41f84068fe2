"""`amlgen catalog prices` (show the table) and `--refresh` (the project's infra/prices.yaml, never the package)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from retail_api import RetailApi, item, serve
from support import run_cli

from generator import pricing

PACKAGE = Path(pricing.__file__).parent / "catalog" / "prices.yaml"


def _digest() -> str:
    return hashlib.sha256(PACKAGE.read_bytes()).hexdigest()


def test_refresh_writes_the_project_table_only(project, capsys):
    before = _digest()
    api = RetailApi([item("Standard_NC24ads_A100_v4", "eastus2", 3.673, meter="NC24ads A100 v4"),
                     item("Standard_NC24ads_A100_v4", "eastus2", 0.9, meter="NC24ads A100 v4 Spot"),
                     item("Standard_NC96ads_A100_v4", "swedencentral", 16.0, meter="NC96ads A100 v4")])
    with serve(api):
        code, out, err = run_cli(capsys, "catalog", "prices", "--refresh", "--api-url", api.base_url,
                                 "-C", str(project))
    assert code == 0, err
    assert out.startswith("wrote infra/prices.yaml: 2 prices in 2 region(s)")
    assert "warning: no price for Standard_NC4as_T4_v3 in eastus2 (left out: unknown, not free)" in err
    assert {q["$filter"].split("armRegionName eq '")[1].split("'")[0] for q in api.requests} == \
        {"eastus2", "swedencentral"}  # the environments' regions
    table = pricing.load_table(project)
    assert table.hourly("Standard_NC24ads_A100_v4", "eastus2") == 3.673
    assert _digest() == before, "the installed package's table is never written"

    code, out, _ = run_cli(capsys, "catalog", "prices", "-C", str(project))
    assert code == 0 and "eastus2          Standard_NC24ads_A100_v4     $    3.673/h  $   2,681.29/month" in out
    assert "(infra/prices.yaml)" in out and "(generator/catalog/prices.yaml)" in out


def test_a_failed_refresh_writes_nothing(project, capsys):
    api = RetailApi([], fail_status={"eastus2": 500})
    with serve(api):
        code, _, err = run_cli(capsys, "catalog", "prices", "--refresh", "--api-url", api.base_url,
                               "-C", str(project))
    assert code == 1 and "HTTP 500" in err and not (project / "infra/prices.yaml").exists()


def test_region_applies_to_refresh_only(project, capsys):
    code, _, err = run_cli(capsys, "catalog", "prices", "--region", "eastus2", "-C", str(project))
    assert code == 64 and "--refresh only" in err


def test_eastus2_gpu_figures_are_consistent_and_dev_is_priced():
    """The transcribed eastus2 A100 prices scale with the GPU count (1, 2, 4), as the published figures do, and
    every size the dev environment uses (eastus2) has a price."""
    table = pricing.load_table()
    nc24 = table.hourly("Standard_NC24ads_A100_v4", "eastus2")
    assert nc24 == 3.673
    assert table.hourly("Standard_NC48ads_A100_v4", "eastus2") == 2 * nc24
    assert table.hourly("Standard_NC96ads_A100_v4", "eastus2") == 4 * nc24
    for size in ("Standard_NC24ads_A100_v4", "Standard_NC4as_T4_v3", "Standard_D12_v2"):
        assert table.price(size, "eastus2") is not None, size
    assert table.price("Standard_NC24ads_A100_v4", "eastus2").as_of.isoformat() == "2026-09-12"
