"""Cost in every plan: per change and in total, hourly and monthly, in text, json and markdown; unknown prices
say so; a threshold calls a plan out; a stale price table warns; destructive changes stand out."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from engine_support import DEP, EP
from gitops_support import append, edit

# A project price table (infra/prices.yaml) with made-up, round figures: the arithmetic is what is tested here.
PRICES = """\
currency: USD
as_of: {as_of}
source: test figures
regions:
  eastus2:
    prices:
      Standard_NC24ads_A100_v4: 4.0
      Standard_NC48ads_A100_v4: 8.0
      Standard_NC4as_T4_v3: 0.5
  swedencentral:
    prices:
      Standard_NC96ads_A100_v4: 16.0
"""


@pytest.fixture
def priced(project):
    (project / "infra/prices.yaml").write_text(PRICES.format(as_of=date.today().isoformat()))
    return project


def test_create_starts_costs_in_every_format(priced, run, emu):
    r = run("plan", "--env", "dev")
    assert r.code == 0, r.text
    assert "$ starts $0.00 to $4.00/h ($0.00 to $2,920.00/month; 0-1 node x Standard_NC24ads_A100_v4)" in r.out
    assert "$ starts $4.00/h ($2,920.00/month; 1 instance x Standard_NC24ads_A100_v4)" in r.out
    assert ("Cost (eastus2, USD, Linux pay-as-you-go): this plan changes the cost by +$4.00/h (+$2,920.00/month) "
            "idle, +$8.00/h (+$5,840.00/month) fully scaled out") in r.out
    assert "warning:" not in r.out  # the table the prices came from is fresh (the package's is not used)

    data = json.loads(run("plan", "--env", "dev", "--format", "json").out)
    compute = next(i for i in data["resources"] if i["kind"] == "compute")["cost"]
    assert compute["before"] is None and compute["after"]["per_vm"] == 4.0
    assert (compute["delta_low"], compute["delta_high"], compute["monthly_delta_high"]) == (0.0, 4.0, 2920.0)
    assert data["cost"]["delta_low"] == 4.0 and data["cost"]["delta_high"] == 8.0
    assert data["cost"]["monthly_delta_high"] == 5840.0 and data["cost"]["unpriced"] == []
    assert next(i for i in data["resources"] if i["kind"] == "model")["cost"] is None

    md = run("plan", "--env", "dev", "--format", "markdown").out
    assert "| Changes | Cost |" in md
    assert f"| + | deployment | `{EP}/{DEP}` | create |  | starts $4.00/h ($2,920.00/month; 1 instance x " in md
    assert "this plan changes the cost by +$4.00/h" in md


def test_updates_and_replacements_show_what_they_add_or_save(priced, run, emu):
    assert run("apply", "--env", "dev").code == 0
    specs = priced / "specs/dev"
    edit(specs / "deployment.yml", "instance_count: 1", "instance_count: 3")
    edit(specs / "compute.yml", "size: Standard_NC24ads_A100_v4", "size: Standard_NC48ads_A100_v4")
    edit(specs / "endpoint-traffic.yml", f"{DEP}: 100", f"{DEP}: 0")
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "$ changes cost by +$8.00/h (+$5,840.00/month; 1 instance x Standard_NC24ads_A100_v4 -> 3 instances x" in r.out
    assert ("$ replaces: changes cost by $0.00 to +$4.00/h ($0.00 to +$2,920.00/month; 0-1 node x Standard_NC24ads_A100_v4"
            " -> 0-1 node x Standard_NC48ads_A100_v4)") in r.out
    # destructive changes stand out: marked, listed and counted
    assert "1 to replace" in r.out and "; 2 destructive." in r.out
    assert f"Destructive: compute gpu-a100-1x (replace); traffic {EP} (traffic move)." in r.out
    md = run("plan", "--env", "dev", "--format", "markdown").out
    assert "| -/+ | compute | `gpu-a100-1x` | **replace** |" in md and "**⚠ traffic move**" in md
    assert f"**⚠ Destructive:** compute gpu-a100-1x (replace); traffic {EP} (traffic move)." in md
    data = json.loads(run("plan", "--env", "dev", "--format", "json").out)
    assert data["summary"]["destructive"] == 2 and data["summary"]["replace"] == 1
    assert {i["kind"] for i in data["resources"] if i["destructive"]} == {"compute", "traffic"}
    assert data["cost"]["delta_low"] == 8.0 and data["cost"]["delta_high"] == 12.0

    edit(specs / "deployment.yml", "instance_count: 3", "instance_count: 1")  # back: costs nothing more
    r = run("plan", "--env", "dev")
    assert f"~ deployment {EP}/{DEP}" not in r.out


def test_unknown_prices_are_unknown_never_zero(priced, run, emu):
    edit(priced / "specs/dev/deployment.yml", "instance_type: Standard_NC24ads_A100_v4", "instance_type: Standard_F4s_v2")
    r = run("plan", "--env", "dev")  # F4s_v2 has no eastus2 price in either table
    assert "$ cost unknown: no price for Standard_F4s_v2 in eastus2 (1 instance x Standard_F4s_v2)" in r.out
    assert "Not priced (1 change, left out of the total): deployment" in r.out
    assert "+$4.00/h" in r.out  # the compute, still priced
    data = json.loads(run("plan", "--env", "dev", "--format", "json").out)
    dep = next(i for i in data["resources"] if i["kind"] == "deployment")["cost"]
    assert dep["delta_low"] is None and dep["monthly_delta_high"] is None and "no price" in dep["unknown"]


def test_low_priority_clusters_are_not_priced_as_dedicated(priced, run, emu):
    edit(priced / "specs/dev/compute.yml", "tier: dedicated", "tier: low_priority")
    r = run("plan", "--env", "dev")
    assert "cost unknown: low-priority prices are not in the price table" in r.out


def test_a_threshold_calls_out_an_expensive_plan(priced, run, emu):
    append(priced / "infra/environments/dev.yml", "\ncost:\n  monthly_threshold: 3000\n")
    r = run("plan", "--env", "dev")
    assert ("COST ABOVE THRESHOLD: this plan may add $5,840.00/month, more than the $3,000.00/month set in "
            "infra/environments/dev.yml:") in r.out
    md = run("plan", "--env", "dev", "--format", "markdown").out
    assert "**⚠ COST ABOVE THRESHOLD" in md
    assert json.loads(run("plan", "--env", "dev", "--format", "json").out)["cost"]["over_threshold"] is True
    edit(priced / "infra/environments/dev.yml", "monthly_threshold: 3000", "monthly_threshold: 6000")
    assert "THRESHOLD" not in run("plan", "--env", "dev").out


def test_the_prod_threshold_is_set_in_infra(run, project):
    from generator import api

    assert api.environment(project, "prod").config.cost.monthly_threshold is not None


def test_threshold_must_be_a_non_negative_number(priced, run):
    append(priced / "infra/environments/dev.yml", "\ncost:\n  monthly_threshold: lots\n")
    r = run("plan", "--env", "dev")
    assert r.code == 1 and "infra/environments/dev.yml:" in r.err and "cost.monthly_threshold" in r.err


def test_a_stale_price_table_warns_in_every_format(project, run, emu):
    old = (date.today() - timedelta(days=200)).isoformat()
    (project / "infra/prices.yaml").write_text(PRICES.format(as_of=old))
    r = run("plan", "--env", "dev")
    assert "warning: prices in infra/prices.yaml are 200 days old" in r.out and "amlgen catalog prices --refresh" in r.out
    assert "> ⚠ prices in infra/prices.yaml are 200 days old" in run("plan", "--env", "dev", "--format", "markdown").out
    warnings = json.loads(run("plan", "--env", "dev", "--format", "json").out)["cost"]["warnings"]
    assert len(warnings) == 1 and "200 days old" in warnings[0]


def test_a_broken_price_table_fails_before_azure_is_read(project, run, emu):
    (project / "infra/prices.yaml").write_text("currency: EUR\nas_of: 2026-01-01\nsource: x\nregions: {}\n")
    r = run("plan", "--env", "dev")
    assert r.code == 1 and "infra/prices.yaml:1" in r.err and "\n" not in r.err.strip()
    assert not emu.requests


def test_only_the_prices_a_plan_uses_can_make_it_stale(project, run, emu):
    """The dev plan prices eastus2 only: swedencentral's older date (a region of the same file) is not its concern."""
    fresh, old = date.today().isoformat(), (date.today() - timedelta(days=200)).isoformat()
    table = PRICES.format(as_of=fresh).replace("  swedencentral:\n", f"  swedencentral:\n    as_of: {old}\n")
    (project / "infra/prices.yaml").write_text(table)
    r = run("plan", "--env", "dev")
    assert r.code == 0 and "$ starts" in r.out and "days old" not in r.out, r.text
    (project / "infra/prices.yaml").write_text(table.replace(f"as_of: {fresh}", f"as_of: {old}", 1)
                                               .replace(f"    as_of: {old}\n", f"    as_of: {fresh}\n"))
    r = run("plan", "--env", "dev")
    assert "warning: prices in infra/prices.yaml are 200 days old" in r.out, r.text
