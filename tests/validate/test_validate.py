"""render --check (the pull-request gate) and validate (SDK load_* + offline checks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support import DEP, EP, REPO, run_cli, tree_digest

from generator.errors import EXIT_INVALID

SDK_LOADERS = {
    "compute.yml": "load_compute",
    "pipeline-job.yml": "load_job",
    "model.yml": "load_model",
    "endpoint.yml": "load_online_endpoint",
    "endpoint-traffic.yml": "load_online_endpoint",
    "deployment.yml": "load_online_deployment",
}


def test_committed_tree_is_current(capsys):
    code, out, err = run_cli(capsys, "render", "--all", "--check", "-C", str(REPO))
    assert code == 0, out + err
    assert out.startswith("ok:")


@pytest.mark.parametrize("spec", sorted(str(p.relative_to(REPO)) for p in (REPO / "specs").rglob("*.yml")))
def test_every_committed_spec_loads_with_the_sdk(spec):
    import azure.ai.ml as aml

    name = Path(spec).name
    loader = getattr(aml, SDK_LOADERS.get(name, "load_data"))
    entity = loader(str(REPO / spec))
    assert entity.name == yaml.safe_load((REPO / spec).read_text())["name"]


def test_validate_all_passes_on_committed_tree(capsys):
    code, out, err = run_cli(capsys, "validate", "--all", "-C", str(REPO))
    assert code == 0, err
    assert "ok: 7 specs valid" in out  # dev trains (6 specs); prod deploys, nothing promoted yet (endpoint)


def test_check_fails_on_hand_edit_with_diff(project, capsys):
    spec = project / "specs/dev/deployment.yml"
    spec.write_text(spec.read_text().replace("instance_count: 1", "instance_count: 3"))
    before = tree_digest(project / "specs")
    code, out, err = run_cli(capsys, "render", "--all", "--check", "-C", str(project))
    assert code == EXIT_INVALID
    assert "--- a/specs/dev/deployment.yml" in out and "-instance_count: 3" in out and "+instance_count: 1" in out
    assert "specs/dev/deployment.yml" in err and "run `amlgen render`" in err
    assert tree_digest(project / "specs") == before  # --check writes nothing
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == 0 and tree_digest(project / "specs") == tree_digest(REPO / "specs")


def test_check_fails_on_stale_and_missing_files(project, capsys):
    (project / "specs/dev/old-thing.yml").write_text("name: x\n")
    (project / "specs/dev/model.yml").unlink()
    code, out, err = run_cli(capsys, "render", "--all", "--check", "-C", str(project))
    assert code == EXIT_INVALID
    assert "--- a/specs/dev/old-thing.yml" in out and "+++ /dev/null" in out
    assert "--- /dev/null" in out and "+++ b/specs/dev/model.yml" in out


def test_check_fails_when_config_changed_but_specs_not(project, capsys):
    with open(project / "infra/defaults.yml", "a") as fh:
        fh.write("\n")
    text = (project / "infra/defaults.yml").read_text().replace("  num_train_epochs: 3\n", "  num_train_epochs: 3\n  lora_r: 16\n")
    (project / "infra/defaults.yml").write_text(text)
    code, out, err = run_cli(capsys, "render", "--all", "--check", "-C", str(project))
    assert code == EXIT_INVALID and "+  lora_r: 16" in out
    assert "specs/dev/pipeline-job.yml" in err


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


# (file, old, new, expected message fragment, expected field)
BAD_SPECS = [
    ("pipeline-job.yml", "num_train_epochs: ${{parent.inputs.num_train_epochs}}",
     "num_train_epochz: ${{parent.inputs.num_train_epochs}}", "'num_train_epochz' is not an input of chat_completion_pipeline 0.0.82 (did you mean 'num_train_epochs'?)",
     "jobs.chat_completion_pipeline.inputs.num_train_epochz"),
    ("pipeline-job.yml", "lr_scheduler_type: cosine\n", "lr_scheduler_type: cosin\n", "must be one of", "inputs.lr_scheduler_type"),
    ("pipeline-job.yml", "apply_lora: 'true'", "apply_lora: true", 'expects a string, got bool True (write "true" in quotes)', "inputs.apply_lora"),
    ("pipeline-job.yml", "num_train_epochs: 1", "num_train_epochs: 0", "must be >= 1", "inputs.num_train_epochs"),
    ("pipeline-job.yml", "learning_rate: 5.0e-06", "learning_rate: 5e-06", "expects a number, got str '5e-06'", "inputs.learning_rate"),
    ("pipeline-job.yml", "number_of_gpu_to_use_finetuning: 1", "number_of_gpu_to_use_finetuning: 2", "uses 2 GPUs per node but 'Standard_NC24ads_A100_v4' has 1", "inputs.number_of_gpu_to_use_finetuning"),
    ("pipeline-job.yml", "compute_finetune: gpu-a100-1x", "compute_finetune: gpu-missing", "compute 'gpu-missing' is not defined by a compute spec here", "inputs.compute_finetune"),
    ("pipeline-job.yml", "/versions/0.0.82", "/labels/latest", "component is not pinned", "jobs.chat_completion_pipeline.component"),
    ("pipeline-job.yml", "/versions/0.0.82", "/versions/0.0.99", "no interface for component chat_completion_pipeline 0.0.99", "jobs.chat_completion_pipeline.component"),
    ("compute.yml", "size: Standard_NC24ads_A100_v4", "size: standard_nc24r", "VM size 'Standard_NC24r' is retired", "size"),
    ("compute.yml", "size: Standard_NC24ads_A100_v4", "size: Standard_NC24s_v3", "VM size 'Standard_NC24s_v3' is retired", "size"),
    ("compute.yml", "size: Standard_NC24ads_A100_v4", "size: Standard_NC64as_T4_v3", "not in the model's finetune_compute_allow_list", "inputs.compute_finetune"),
    ("compute.yml", "max_instances: 1", "max_instances: lots", "Not a valid integer. (azure-ai-ml load_compute)", "max_instances"),
    ("deployment.yml", f"endpoint_name: {EP}", "endpoint_name: ultrachat-other", "endpoint 'ultrachat-other' is not defined", "endpoint_name"),
    ("deployment.yml", "model: azureml:Phi-3-mini-4k-instruct-ultrachat-200k:", "model: azureml:Phi-3-mini-4k-instruct-ultrachat-200k:1", "is not the registered model spec here", "model"),
    ("deployment.yml", "instance_type: Standard_NC24ads_A100_v4", "instance_type: Standard_NC6s_v3", "VM size 'Standard_NC6s_v3' is retired", "instance_type"),
    ("deployment.yml", "instance_type: Standard_NC24ads_A100_v4", "instance_type: Standard_E4s_v3", "not in the model's inference_compute_allow_list", "instance_type"),
    ("model.yml", "path: azureml://jobs/phi", "path: azureml://jobs/xphi", "which no pipeline-job spec here defines", "path"),
    ("endpoint-traffic.yml", f"{DEP}: 100", f"{DEP}: 90", "percentages must add up to 100", "traffic"),
    ("endpoint-traffic.yml", f"{DEP}: 100", "blue: 100", f"deployment 'blue' of endpoint '{EP}' is not defined", "traffic.blue"),
]


@pytest.mark.parametrize("file,old,new,message,field", BAD_SPECS, ids=[f"{b[0]}:{b[4]}:{b[3][:24]}" for b in BAD_SPECS])
def test_validate_rejects(project, capsys, file, old, new, message, field):
    _edit(project / "specs/dev" / file, old, new)
    before = tree_digest(project / "specs")
    code, out, err = run_cli(capsys, "validate", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    hit = [line for line in lines if message in line]
    assert hit, err
    assert re.match(r"error: specs/dev/[\w.-]+\.yml:\d+: " + re.escape(field) + ": ", hit[0]), hit[0]
    assert "Traceback" not in err
    assert tree_digest(project / "specs") == before


def test_validate_single_files(project, capsys):
    code, out, err = run_cli(capsys, "validate", str(project / "specs/dev/compute.yml"), str(project / "specs/dev/model.yml"),
                             "-C", str(project))
    # model.yml alone names a job that is not among the given files
    assert code == EXIT_INVALID and "which no pipeline-job spec here defines" in err
    code, out, err = run_cli(capsys, "validate", str(project / "specs/dev/compute.yml"), "-C", str(project))
    assert code == 0 and "ok: 1 specs valid" in out


def test_validate_malformed_yaml_and_files_render_did_not_generate(project, capsys):
    (project / "specs/dev/endpoint.yml").write_text("name: [unclosed\n")
    (project / "specs/dev/extra.yml").write_text("name: thing\n")
    code, out, err = run_cli(capsys, "validate", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID
    assert "error: specs/dev/endpoint.yml:2: malformed YAML" in err
    assert "error: specs/dev/extra.yml: not generated by `amlgen render` for this environment" in err


def test_validate_loose_file_of_unknown_kind(project, capsys, tmp_path):
    loose = tmp_path / "thing.yml"
    loose.write_text("name: thing\n")
    code, out, err = run_cli(capsys, "validate", str(loose), "-C", str(project))
    assert code == EXIT_INVALID and "thing.yml:1: unknown spec kind: no recognised $schema or type" in err


def test_validate_refuses_keys_the_sdk_drops_silently(project, capsys):
    _edit(project / "specs/dev/pipeline-job.yml", "  force_rerun: true\n", "  force_rerunn: true\n")
    code, out, err = run_cli(capsys, "validate", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID
    assert re.search(r"error: specs/dev/pipeline-job\.yml:\d+: settings\.force_rerunn: unknown key: azure-ai-ml "
                     r"load_job drops it silently", err), err
