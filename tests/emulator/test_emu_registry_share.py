"""User registries: declared regions, discovery, ``models.share`` along the SDK's real call path, immutability,
fault recovery, deploying a registry model, and the registry region rule (recordings fact 33, 36, 37)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

REG = "amlgen-models"


def registry(emu, name: str = REG):
    from azure.ai.ml import MLClient

    from generator.emulator.local import EmulatorCredential, local_cloud_kwargs

    return MLClient(EmulatorCredential(), registry_name=name, **local_cloud_kwargs(emu.base_url),
                    retry_backoff_factor=0.01)


@pytest.fixture
def trained(ml, compute, job_spec, submit, wait_job):
    """A workspace model registered from a Completed pipeline job's output (as amlgen registers it)."""
    from azure.ai.ml.entities import Model

    job = submit(job_spec("share-src-job"))
    assert wait_job(job.name) == "Completed"
    return ml.models.create_or_update(Model(name="phi3-ultrachat", version="3", type="mlflow_model",
                                            path=f"azureml://jobs/{job.name}/outputs/trained_model",
                                            tags={"base": "Phi-3-mini-4k-instruct:14"}))


def test_registries_are_declared_with_regions(emu):
    from generator.emulator import EmulatorControl, EmulatorError

    emu.add_registry(REG, ["eastus", "westeurope"])
    ctl = EmulatorControl(emu.base_url, emu.ca_path)
    ctl.add_registry("amlgen-shared", ["northeurope"])
    names = {r["name"]: r["regions"] for r in ctl.registries()}
    assert names["azureml"] is None and names[REG] == ["eastus", "westeurope"]
    assert names["amlgen-shared"] == ["northeurope"]
    with pytest.raises(EmulatorError):
        emu.add_registry("x", ["eastus"])  # too short
    with pytest.raises(EmulatorError):
        ctl.add_registry("amlgen-other", [])
    reg = registry(emu)
    assert list(reg.models.list()) == []
    with pytest.raises(ResourceNotFoundError):
        reg.models.get("phi3-ultrachat", version="3")
    paths = [r.path for r in emu.requests]
    assert f"/registrymanagement/v1.0/registries/{REG}/discovery" in paths


def test_unknown_registry_fails_discovery(emu):
    with pytest.raises(Exception, match="(?i)not found|404"):
        registry(emu, "no-such-registry").models.get("x", version="1")


def test_share_creates_the_registry_model_through_import(emu, ml, trained):
    emu.add_registry(REG, ["eastus"])
    emu.clear_requests()
    shared = ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                             share_with_version="3")
    assert shared.name == "phi3-ultrachat" and shared.version == "3"
    assert shared.id == f"azureml://registries/{REG}/models/phi3-ultrachat/versions/3"
    calls = [(r.method, r.path.split("/registries/")[-1], r.status) for r in emu.requests]
    assert ("POST", f"{REG}/import", 202) in calls
    polls = [s for m, p, s in calls if p.startswith("/assetstore/v1.0/operations/")]
    assert polls and polls[-1] == 200
    got = registry(emu).models.get("phi3-ultrachat", version="3")
    assert got.type == "mlflow_model" and got.tags == {"base": "Phi-3-mini-4k-instruct:14"}
    assert got.flavors and "transformers" in got.flavors
    # sharing the same version again: the SDK itself refuses (it reads the version first)
    from azure.ai.ml.exceptions import ValidationException

    with pytest.raises(ValidationException, match="already exists in registry"):
        ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                        share_with_version="3")
    renamed = ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-prod",
                              share_with_version="1")
    assert renamed.id == f"azureml://registries/{REG}/models/phi3-prod/versions/1"


def test_registry_versions_are_immutable(emu, ml, trained):
    from azure.ai.ml.entities import Model

    emu.add_registry(REG, ["eastus"])
    ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                    share_with_version="3")
    reg = registry(emu)
    with pytest.raises(HttpResponseError) as info:
        reg.models.create_or_update(Model(name="phi3-ultrachat", version="3", type="mlflow_model",
                                          path="https://example.com/other-model"))
    assert info.value.status_code == 409
    created = reg.models.create_or_update(Model(name="phi3-ultrachat", version="4", type="custom_model",
                                                path="https://example.com/other-model"))
    assert created.version == "4" and created.path == "https://example.com/other-model"
    assert {m.version for m in reg.models.list("phi3-ultrachat")} == {"3", "4"}
    assert reg.models.get("phi3-ultrachat", label="latest").version == "4"


def test_failed_share_leaves_nothing_and_a_rerun_converges(emu, ml, trained):
    emu.add_registry(REG, ["eastus"])
    emu.faults.add(f"/registries/{REG}/import$", "POST", action="fail", count=1, message="copy failed mid-way")
    with pytest.raises(HttpResponseError, match="copy failed mid-way"):
        ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                        share_with_version="3")
    with pytest.raises(ResourceNotFoundError):
        registry(emu).models.get("phi3-ultrachat", version="3")
    shared = ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                             share_with_version="3")
    assert shared.version == "3"


def test_share_of_a_missing_workspace_model_is_refused(emu, ml):
    emu.add_registry(REG, ["eastus"])
    with pytest.raises(HttpResponseError, match="does not exist in workspace"):
        ml.models.share("nope", "1", registry_name=REG, share_with_name="nope", share_with_version="1")


def _deploy(ml, model: str, endpoint: str = "ep-registry-model"):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint

    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=endpoint, auth_mode="key")).result()
    return ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name=endpoint, model=model, instance_type="Standard_NC24ads_A100_v4",
        instance_count=1)).result()


def test_a_registry_model_deploys_in_a_workspace_of_its_regions(emu, ml, trained):
    emu.add_registry(REG, ["westeurope", "eastus"])
    ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                    share_with_version="3")
    dep = _deploy(ml, f"azureml://registries/{REG}/models/phi3-ultrachat/versions/3")
    assert dep.provisioning_state == "Succeeded"
    with pytest.raises(HttpResponseError, match="not found"):
        _deploy(ml, f"azureml://registries/{REG}/models/phi3-ultrachat/versions/9", "ep-registry-model2")


def test_region_rule_for_deployments_and_pipeline_jobs(emu, ml, trained, job_spec, submit):
    emu.add_registry(REG, ["eastus"])
    ml.models.share("phi3-ultrachat", "3", registry_name=REG, share_with_name="phi3-ultrachat",
                    share_with_version="3")
    emu.add_registry(REG, ["westeurope", "northeurope"])  # the registry no longer serves the workspace's region
    with pytest.raises(HttpResponseError) as info:
        _deploy(ml, f"azureml://registries/{REG}/models/phi3-ultrachat/versions/3")
    err = info.value
    assert err.status_code == 400 and err.error.code == "BadRequest"
    assert (f"Invalid region eastus for operation consume in registry {REG}. Region eastus is not a supported "
            f"region for registry {REG}. Supported regions are westeurope, northeurope.") in err.message
    spec = job_spec("region-job")
    spec.write_text(spec.read_text().replace(
        "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14",
        f"azureml://registries/{REG}/models/phi3-ultrachat/versions/3"))
    with pytest.raises(HttpResponseError, match="Invalid region eastus for operation consume"):
        submit(spec)
    # the azureml system registry serves every region
    assert submit(job_spec("azureml-job")).status == "NotStarted"


def test_azureml_registry_stays_read_only(emu, ml, trained):
    with pytest.raises(HttpResponseError) as info:
        ml.models.share("phi3-ultrachat", "3", registry_name="azureml", share_with_name="x", share_with_version="1")
    assert info.value.status_code == 403


def test_registries_from_the_constructor(tmp_path):
    from generator.emulator import Emulator
    from generator.emulator.local import prepare_process_for_emulator

    with Emulator(registries={"team-registry": ["eastus"]}) as emu2, \
            prepare_process_for_emulator(emu2.base_url, emu2.ca_path):
        assert [r["name"] for r in emu2.registries] == ["azureml", "team-registry"]
        reg = registry(emu2, "team-registry")
        assert list(reg.models.list()) == []


def test_registry_models_survive_a_restart_with_a_state_dir(tmp_path):
    from azure.ai.ml.entities import Model

    from generator.emulator import Emulator
    from generator.emulator.local import prepare_process_for_emulator

    for round_ in (1, 2):
        with Emulator(state_dir=tmp_path, registries={REG: ["eastus"]}) as emu2, \
                prepare_process_for_emulator(emu2.base_url, emu2.ca_path):
            reg = registry(emu2)
            if round_ == 1:
                reg.models.create_or_update(Model(name="kept", version="1", path="https://example.com/m"))
            assert reg.models.get("kept", version="1").path == "https://example.com/m"


def test_registry_option_of_the_emulator_process(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from generator.emulator import EmulatorControl

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator", "--port", "0", "--registry", f"{REG}=eastus,westeurope"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(repo),
        env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        base = proc.stdout.readline().strip().split("=", 1)[1]
        ca = proc.stdout.readline().strip().split("=", 1)[1]
        regs = {r["name"]: r["regions"] for r in EmulatorControl(base, ca).registries()}
        assert regs[REG] == ["eastus", "westeurope"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
