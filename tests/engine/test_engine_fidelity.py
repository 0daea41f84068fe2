"""What breaks real users if the engine trusts its own emulator instead of the service (issue: "Behave like the
real Azure ML service"), each through the real SDK against an emulator that answers as the recordings show."""

from __future__ import annotations

import re

import pytest
import yaml
from engine_support import EP, REPO, job_name, writes


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new))


# 1. perpetual drift -------------------------------------------------------------------------------------------
def test_no_drift_after_apply_although_the_service_upper_cases_the_vm_size(run, emu, ml, project):
    assert run("apply", "--env", "dev").code == 0
    assert ml.compute.get("gpu-a100-1x").size == "STANDARD_NC24ADS_A100_V4"  # what the service answers
    emu.clear_requests()
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 0 and "No changes" in r.out, r.out
    r = run("apply", "--env", "dev")
    assert r.code == 0 and "no changes" in r.out
    assert not writes(emu, "PUT", "/computes/")  # no re-PUT of the cluster


# 2. a cluster's size cannot change in place ------------------------------------------------------------------
def test_a_size_change_is_a_replace_done_only_with_consent_and_when_idle(run, emu, ml, project):
    assert run("apply", "--env", "dev").code == 0
    _edit(project / "specs/dev/compute.yml", "size: Standard_NC24ads_A100_v4", "size: Standard_NC48ads_A100_v4")
    r = run("plan", "--env", "dev")
    assert "-/+ compute gpu-a100-1x" in r.out and "replace" in r.out
    assert "size cannot change in place: delete and recreate (the cluster is idle)" in r.out
    emu.clear_requests()
    r = run("apply", "--env", "dev")
    assert r.code == 1 and "pass --replace to delete and recreate it" in r.err
    assert not writes(emu, "PUT", "/computes/") and not writes(emu, "DELETE", "/computes/")
    r = run("apply", "--env", "dev", "--replace")
    assert r.code == 0, r.text
    assert ml.compute.get("gpu-a100-1x").size.lower() == "standard_nc48ads_a100_v4"
    assert writes(emu, "DELETE", "/computes/gpu-a100-1x")


def test_a_busy_cluster_is_not_replaced(run, emu, ml, project):
    emu.script_job(".*", [("Running", 30)])  # the job keeps the cluster busy
    from engine_support import subprocess_cmd  # noqa: F401

    r = run("apply", "--env", "dev", "--job-timeout", "1")  # submits, then stops waiting (the job keeps running)
    assert r.code == 1 and "still Running after 1s" in r.err, r.text
    _edit(project / "specs/dev/compute.yml", "size: Standard_NC24ads_A100_v4", "size: Standard_NC48ads_A100_v4")
    r = run("plan", "--env", "dev")
    assert re.search(r"the cluster has \d+ busy node", r.out), r.out
    emu.clear_requests()
    r = run("apply", "--env", "dev", "--replace")
    assert r.code == 1 and "not replaced: jobs are running on it" in r.err, r.text
    assert not writes(emu, "DELETE", "/computes/")


def test_a_replace_on_a_protected_workspace_needs_yes(run, emu, project):
    path = project / "infra/environments/dev.yml"
    path.write_text(path.read_text().replace("protected: false", "protected: true"))
    r = run("apply", "--env", "dev", "--replace")
    assert r.code == 64 and "protected" in r.err and emu.write_calls() == 0


# 3. endpoint names are global per region ----------------------------------------------------------------------
def test_a_literal_endpoint_name_collides_across_tenants_and_derived_names_do_not(emu, run, project):
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

    emu.add_workspace("99999999-0000-0000-0000-000000000000", "rg-someone-else", "mlw-someone", "eastus2")
    with prepare_process_for_emulator(emu.base_url, emu.ca_path):
        other = MLClient(EmulatorCredential(), "99999999-0000-0000-0000-000000000000", "rg-someone-else",
                         "mlw-someone", **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)
        other.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ultrachat-dev")).result()
    # the notebook's kind of name (no timestamp) collides with the other tenant's endpoint in the same region
    spec = project / "specs/dev/endpoint.yml"
    _edit(spec, f"name: {EP}", "name: ultrachat-dev")
    for other_spec in ("endpoint-traffic.yml", "deployment.yml"):
        _edit(project / "specs/dev" / other_spec, EP, "ultrachat-dev")
    r = run("apply", "--env", "dev")
    assert r.code == 1 and "endpoint 'ultrachat-dev'" in r.err and "unique within a region" in r.err, r.text
    # amlgen's derived name (unique by construction) does not
    assert re.fullmatch(r"ultrachat-dev-[0-9a-f]{6}", EP)


# 4. model versions ----------------------------------------------------------------------------------------------
def test_content_derived_model_versions_are_positive_and_below_2_31(ml, emu, project):
    from azure.ai.ml.entities import Model

    from generator.names import MODEL_VERSION_MAX, version_from_digest

    assert 0 < int(yaml.safe_load((REPO / "specs/dev/model.yml").read_text())["version"]) <= MODEL_VERSION_MAX
    assert int(version_from_digest("f" * 64)) <= MODEL_VERSION_MAX and int(version_from_digest("0" * 64)) >= 1
    with pytest.raises(Exception, match="positive integer"):
        ml.models.create_or_update(Model(name="too-big", version="3726666065", type="custom_model",
                                         path="azureml://datastores/workspaceblobstore/paths/x"))


# 5. the job's identity covers its data ------------------------------------------------------------------------
def test_stale_data_is_refused_before_anything_is_uploaded(run, emu, project):
    from generator.config import load_environment

    env = load_environment(project, "dev")
    out = project / env.config.data.resolved_output_dir
    (out / "train_sft.jsonl").write_text((out / "train_sft.jsonl").read_text() + "\n")  # no longer the manifest's
    r = run("apply", "--env", "dev")
    assert r.code == 1 and "train_sft.jsonl" in r.err and "stale" in r.err and "amlgen data prepare" in r.err, r.text
    assert emu.write_calls() == 0  # nothing uploaded, nothing created


def test_different_data_with_the_same_settings_is_a_different_job(run, emu, project, tmp_path):
    from generator.config import load_environment
    from generator.data import prepare
    from generator.data.synthetic import generate

    first = job_name(project)
    env = load_environment(project, "dev")
    generate(tmp_path / "other", sizes={"train_sft": 300, "test_sft": 40, "train_gen": 40, "test_gen": 40}, seed=3,
             profile="compact")
    prepare(env.config.data, project, source=str(tmp_path / "other"))  # same settings, other rows
    r = run("apply", "--env", "dev")  # the committed job was rendered for the earlier data
    assert r.code == 1 and "was rendered for data sha256:" in r.err and "amlgen render --env dev" in r.err, r.text
    assert emu.write_calls() == 0
    assert run("render", "--env", "dev", target=None).code == 0
    assert job_name(project) != first  # the data's identity is part of the job's content hash
    assert run("apply", "--env", "dev").code == 0


# 6. waiting for real jobs -------------------------------------------------------------------------------------
def test_a_job_queued_for_lack_of_quota_meets_the_job_timeout(run, emu, project):
    emu.script_job(".*", [("Queued", 60)])
    r = run("apply", "--env", "dev", "--job-timeout", "2")
    assert r.code == 1, r.text
    assert re.search(r"job '[^']+': still Queued after 2s \(NotStarted \d+\.\ds, Queued \d+\.\ds\); re-run apply to "
                     r"keep waiting \(it is not resubmitted\)", r.err), r.err


def test_not_responding_recovers_and_the_apply_completes(run, emu, project):
    emu.script_job(".*", [("Running", 0.3), ("NotResponding", 0.6), ("Running", 0.3)])
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    assert "is NotResponding; it can recover, waiting" in r.out
    assert re.search(r"NotResponding after \d", r.out)
