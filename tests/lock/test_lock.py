"""The foundation model lock: resolved through the SDK's registry client against the emulator, whose azureml
registry is derived from the published model specs; render, validate and apply read only the lock."""

from __future__ import annotations

import re

import pytest
import yaml
from engine_support import REPO, writes

LOCK = "infra/lock.yml"


def _append(path, text):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def test_lock_against_the_emulator_reproduces_the_committed_lock(run, project):
    (project / LOCK).unlink()
    r = run("lock")
    assert r.code == 0, r.text
    assert (project / LOCK).read_bytes() == (REPO / LOCK).read_bytes()
    r = run("lock", "--check")
    assert r.code == 0 and "is current" in r.out


def test_the_lock_holds_the_registry_facts_verbatim(project):
    from generator.lock import load

    lock = load(REPO)
    (model,) = lock.models
    assert (model.name, model.version, model.asset_id) == (
        "Phi-3-mini-4k-instruct", "14", "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14")
    assert model.tags["finetune_compute_allow_list"].startswith("['Standard_NC24ads_A100_v4'")  # a Python literal
    assert "Standard_NC4as_T4_v3" not in model.allow_list("inference")  # as published: no T4 sizes
    assert model.model_defaults()["deepspeed_stage"] == 2 and model.model_defaults()["learning_rate"] == "5e-6"
    assert model.min_sku == {"finetune": "24|1|220|64", "inference": "6|1|112|64"}
    life = model.lifecycle
    assert life.archived and str(life.finetune_retirement) == "2025-08-30" and str(life.finetune_deprecation) == "2025-06-30"
    assert "15" in life.source  # version 14 predates lifecycle metadata: the model's newest version carries it
    (component,) = lock.components
    assert component.version == "0.0.82" and len(component.interface_sha256) == 64
    assert {m.name for m in lock.alternatives} == {"Phi-4", "Phi-3.5-mini-instruct"}


def test_a_stale_lock_fails_the_check_and_changes_nothing(run, project):
    text = (project / LOCK).read_text().replace("'2025-08-30'", "'2099-08-30'", 1)
    (project / LOCK).write_text(text)
    r = run("lock", "--check")
    assert r.code == 1 and "infra/lock.yml is not what the registry resolves now" in r.err
    assert "the registry's facts changed" in r.err
    assert (project / LOCK).read_text() == text


def test_labels_move_only_with_upgrade(run, emu, ml, project):
    """A label (latest) keeps its locked version until `amlgen lock --upgrade`, which prints what moved."""
    assert run("apply", "--env", "dev").code == 0
    model = yaml.safe_load((project / "specs/dev/model.yml").read_text())
    share = lambda v: ml.models.share(model["name"], str(model["version"]), registry_name="amlgen-models",  # noqa: E731
                                      share_with_name="team-base", share_with_version=v)
    share("1")
    _append(project / "infra/environments/dev.yml",
            "\nfoundation_model: {registry: amlgen-models, name: team-base, label: latest}\n")
    r = run("lock")
    assert r.code == 0 and "+ model amlgen-models/team-base (label:latest): 1" in r.out, r.text
    share("2")
    r = run("lock")
    assert r.code == 0 and "team-base" not in r.out and "unchanged" in r.out  # the label stays where it was locked
    r = run("lock", "--upgrade")
    assert r.code == 0 and "~ model amlgen-models/team-base (label:latest): 1 -> 2" in r.out, r.text
    assert run("render", "--env", "dev", target=None).code == 0
    job = yaml.safe_load((project / "specs/dev/pipeline-job.yml").read_text())
    assert job["inputs"]["mlflow_model_path"]["path"] == "azureml://registries/amlgen-models/models/team-base/versions/2"


@pytest.mark.parametrize("change, pattern", [
    ("foundation_model: {name: Phi-9, version: '1'}",
     r"infra/environments/dev\.yml:\d+: foundation_model: registry 'azureml' has no model Phi-9 with version 1"),
    ("foundation_model: {name: Phi-4, label: nightly}",
     r"infra/environments/dev\.yml:\d+: foundation_model: registry 'azureml' has no model Phi-4 with label 'nightly'"),
    ("foundation_model: {registry: no-such-registry, name: Phi-4, version: '8'}",
     r"registry 'no-such-registry'|no-such-registry"),
])
def test_what_the_registry_does_not_have_is_one_line_and_writes_nothing(run, project, change, pattern):
    before = (project / LOCK).read_bytes()
    _append(project / "infra/environments/dev.yml", f"\n{change}\n")
    r = run("lock")
    assert r.code == 1, r.text
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and re.search(pattern, lines[0]) and "Traceback" not in r.err, r.err
    assert (project / LOCK).read_bytes() == before


def test_a_lock_that_does_not_match_the_config(run, project):
    _append(project / "infra/environments/dev.yml", "\nfoundation_model: {version: '15'}\n")
    r = run("render", "--env", "dev", target=None)
    assert r.code == 1
    assert re.search(r"infra/environments/dev\.yml:\d+: foundation_model: infra/lock\.yml does not pin "
                     r"azureml/Phi-3-mini-4k-instruct \(version 15\); run `amlgen lock`", r.err), r.err


def test_a_tag_that_cannot_be_parsed_names_the_lock(run, project):
    text = (project / LOCK).read_text()
    start = text.index("    finetune_compute_allow_list:")
    end = text.index("    inference_compute_allow_list:")
    (project / LOCK).write_text(text[:start] + "    finetune_compute_allow_list: '[not python'\n" + text[end:])
    r = run("render", "--env", "dev", target=None)
    assert r.code == 1
    assert re.search(r"infra/lock\.yml:\d+: the registry's tag finetune_compute_allow_list of Phi-3-mini-4k-instruct 14 "
                     r"cannot be parsed", r.err), r.err


def test_validate_states_the_models_retirement_with_suggestions(run, project):
    r = run("validate", "--env", "dev", target=None)
    assert r.code == 0, r.text
    assert re.search(r"warning: infra/defaults\.yml:\d+: foundation_model: Phi-3-mini-4k-instruct 14 in registry "
                     r"azureml: archived, fine-tuning retired on 2025-08-30, inference retired on 2025-08-30 .*"
                     r"current chat-completion models: Phi-4 8", r.err), r.err


def test_apply_to_azure_refuses_a_retired_fine_tune_without_the_flag(emu, project):
    """On Azure (here: a target that is not local, served by the emulator) a retired fine-tune does not start."""
    from dataclasses import dataclass

    from generator import api
    from generator.emulator.target import LocalTarget
    from generator.errors import AmlgenError

    @dataclass(frozen=True)
    class AzureLike(LocalTarget):
        is_local = False  # decides as it would against Azure

    target = AzureLike(emu.base_url, emu.ca_path)
    with pytest.raises(AmlgenError, match=r"fine-tuning of Phi-3-mini-4k-instruct 14 retired on 2025-08-30 .*"
                                          r"--allow-retired"):
        api.apply(project, "dev", target=target, yes=True, poll_interval=0.05)
    assert emu.write_calls() == 0
    result = api.apply(project, "dev", target=target, yes=True, allow_retired=True, poll_interval=0.05)
    assert result.ok, result.errors


def test_on_the_emulator_a_retired_fine_tune_is_a_warning(run, project):
    r = run("apply", "--env", "dev")
    assert r.code == 0 and "warning: the registry reports fine-tuning of Phi-3-mini-4k-instruct 14 retired" in r.out


def test_switching_to_a_current_model_is_one_line(run, emu, ml, project):
    """Phi-4 (current, known to the lock as an alternative): one line in infra/, then render, validate, apply."""
    _append(project / "infra/environments/dev.yml", '\nfoundation_model: {name: Phi-4, version: "8"}\n')
    r = run("render", "--env", "dev", target=None)
    assert r.code == 0, r.text
    assert "Phi-4 8's model_specific_defaults override" in r.err and "retired" not in r.err
    job = yaml.safe_load((project / "specs/dev/pipeline-job.yml").read_text())
    assert job["inputs"]["mlflow_model_path"]["path"] == "azureml://registries/azureml/models/Phi-4/versions/8"
    assert job["inputs"]["deepspeed_stage"] == "3"  # Phi-4's own default
    r = run("validate", "--env", "dev", target=None)
    assert r.code == 0 and "retired" not in r.err, r.text
    r = run("apply", "--env", "dev")
    assert r.code == 0 and "retired" not in r.out, r.text
    assert ml.jobs.get(job["name"]).status == "Completed"
    assert writes(emu, "PUT", f"/jobs/{job['name']}")
