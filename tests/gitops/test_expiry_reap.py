"""Endpoints that expire: apply sets the expiry tag on create and keeps it; plan ignores it (no perpetual drift);
render stays pure; `amlgen reap` deletes expired endpoints of unprotected environments only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from engine_support import DEP, EP
from gitops_support import append

TAG = "amlgen-expires-at"


@pytest.fixture
def ttl(project):
    append(project / "infra/environments/dev.yml", "\nendpoint:\n  ttl_hours: 8\n")
    return project


def _expires(ml) -> datetime:
    return datetime.fromisoformat(ml.online_endpoints.get(EP).tags[TAG].replace("Z", "+00:00"))


def _set_tag(ml, value):
    ep = ml.online_endpoints.get(EP)
    ep.tags = {**ep.tags, TAG: value}
    ml.online_endpoints.begin_create_or_update(ep).result()


def test_apply_tags_a_new_endpoint_and_keeps_the_tag(ttl, run, ml, emu):
    before = datetime.now(UTC)
    assert run("apply", "--env", "dev").code == 0
    first = _expires(ml)
    assert before + timedelta(hours=8) - timedelta(seconds=5) <= first <= datetime.now(UTC) + timedelta(hours=8)
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}  # the traffic update kept the tag too
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 0, r.text  # the tag is not in the spec: never a difference
    from generator import api

    api.render(ttl, ["dev"], check=True, with_infra=False)  # no clock in a spec: still current

    # a later apply that writes the endpoint (a tag changed in the spec) keeps the expiry: no extension
    spec = ttl / "specs/dev/endpoint.yml"
    spec.write_text(spec.read_text().replace("environment: dev", "environment: dev\n  team: ml"))
    traffic = ttl / "specs/dev/endpoint-traffic.yml"
    traffic.write_text(traffic.read_text().replace("environment: dev", "environment: dev\n  team: ml"))
    r = run("apply", "--env", "dev")
    assert r.code == 0 and "endpoint updated" in r.out, r.text
    tags = ml.online_endpoints.get(EP).tags
    assert tags["team"] == "ml" and tags[TAG] == first.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_without_a_ttl_no_tag_and_a_later_write_drops_it(project, run, ml, emu):
    assert run("apply", "--env", "dev").code == 0
    assert TAG not in (ml.online_endpoints.get(EP).tags or {})


def test_reap_dry_run_then_reap(ttl, run, ml, emu):
    assert run("apply", "--env", "dev").code == 0
    r = run("reap", "--env", "dev", "--dry-run")
    assert r.code == 0 and "nothing has expired" in r.out and f"= endpoint {EP}: expires" in r.out

    _set_tag(ml, "2020-01-01T00:00:00Z")
    emu.clear_requests()
    r = run("reap", "--env", "dev", "--dry-run")
    assert r.code == 0 and f"would delete {EP}" in r.out
    assert emu.write_calls() == 0 and ml.online_endpoints.get(EP)

    r = run("reap", "--env", "dev")
    assert r.code == 0 and f"Reap of dev: deleted {EP}" in r.out
    assert EP not in [e.name for e in ml.online_endpoints.list()]
    assert run("reap", "--env", "dev").out.strip().endswith("nothing has expired")

    # the reaped endpoint is expected to be absent: listed as expired, not drift; apply recreates it
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 0, r.text
    assert f"+ endpoint {EP}" in r.out and "create (expired)" in r.out and "not drift" in r.out
    assert run("apply", "--env", "dev").code == 0
    assert _expires(ml) > datetime.now(UTC) + timedelta(hours=7)


def test_a_tag_that_is_not_a_timestamp_is_never_reaped(ttl, run, ml, emu):
    assert run("apply", "--env", "dev").code == 0
    _set_tag(ml, "next tuesday")
    r = run("reap", "--env", "dev")
    assert r.code == 0 and "not a timestamp; kept" in r.out and ml.online_endpoints.get(EP)


def test_reap_refuses_a_protected_environment(project, run, emu):
    append(project / "infra/environments/prod.yml", "\nendpoint:\n  ttl_hours: 8\n")
    r = run("reap", "--env", "prod")
    assert r.code == 1 and not emu.requests
    assert r.err.strip() == ("error: infra/environments/prod.yml:6: environment.protected: environment 'prod' is "
                             "protected: reap deletes endpoints of unprotected environments only")


def test_reap_refuses_a_workspace_a_protected_environment_manages(ttl, run, emu):
    from gitops_support import edit

    edit(ttl / "infra/environments/dev.yml", "resource_group: rg-amlgen-dev\n  name: mlw-amlgen-dev",
         "resource_group: rg-amlgen-prod\n  name: mlw-amlgen-prod")
    r = run("reap", "--env", "dev")
    assert r.code == 1 and "managed by protected environment prod: reap refuses it" in r.err


def test_reap_without_a_ttl_does_nothing(project, run, emu):
    r = run("reap", "--env", "dev")
    assert r.code == 0 and "sets no endpoint.ttl_hours" in r.out and emu.write_calls() == 0


def test_ttl_must_be_whole_positive_hours(project, run):
    append(project / "infra/environments/dev.yml", "\nendpoint:\n  ttl_hours: 0\n")
    r = run("plan", "--env", "dev")
    assert r.code == 1 and "endpoint.ttl_hours" in r.err and "infra/environments/dev.yml:" in r.err
