"""Asset mode: data-asset specs versioned by content from the manifest, referenced by the pipeline job."""

from __future__ import annotations

import json

import yaml
from support import append, run_cli, tree_digest

from generator import api
from generator.config import load_environment
from generator.data import prepare
from generator.errors import EXIT_INVALID

ASSET_MODE = "data:\n  assets:\n    mode: asset\n"


def test_asset_mode_needs_a_manifest(project, capsys):
    append(project / "infra/environments/dev.yml", ASSET_MODE)
    before = tree_digest(project / "specs")
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID
    assert "data.assets.mode: data.assets.mode is 'asset' but data/ultrachat-200k-head5pc/manifest.json does not exist" in err
    assert "infra/environments/dev.yml:" in err and tree_digest(project / "specs") == before


def test_asset_mode_renders_versioned_data_specs(project, capsys):
    append(project / "infra/environments/dev.yml", ASSET_MODE)
    env = load_environment(project, "dev")
    prepare(env.config.data, project, source="sample")
    manifest = json.loads((project / env.config.data.resolved_output_dir / "manifest.json").read_text())
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == 0, err
    train = yaml.safe_load((project / "specs/dev/data-train.yml").read_text())
    test = yaml.safe_load((project / "specs/dev/data-test.yml").read_text())
    sha = manifest["splits"]["train_sft"]["sha256"]
    assert train["name"] == "ultrachat-200k-train-sft" and train["version"] == sha[:16]
    assert train["type"] == "uri_file" and train["path"] == "../../data/ultrachat-200k-head5pc/train_sft.jsonl"
    assert train["tags"]["rows"] == manifest["splits"]["train_sft"]["rows"]
    assert test["name"] == "ultrachat-200k-test-sft"
    job = yaml.safe_load((project / "specs/dev/pipeline-job.yml").read_text())
    assert job["inputs"]["train_file_path"]["path"] == f"azureml:ultrachat-200k-train-sft:{sha[:16]}"
    code, out, err = run_cli(capsys, "validate", "--env", "dev", "-C", str(project))
    assert code == 0, err
    assert "ok: 8 specs valid" in out
    # a pipeline reference to a version that no data spec defines is caught
    spec = project / "specs/dev/pipeline-job.yml"
    spec.write_text(spec.read_text().replace(f"ultrachat-200k-train-sft:{sha[:16]}", "ultrachat-200k-train-sft:0"))
    code, out, err = run_cli(capsys, "validate", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID and "data asset ultrachat-200k-train-sft:0 is not defined by a data spec here" in err


def test_data_change_changes_asset_version_and_job_name(project):
    append(project / "infra/environments/dev.yml", ASSET_MODE)
    env = load_environment(project, "dev")
    prepare(env.config.data, project, source="sample")
    first = api.render_files(project, ["dev"], with_infra=False).files
    append(project / "infra/environments/dev.yml", "  percent: 10\n")
    env = load_environment(project, "dev")
    prepare(env.config.data, project, source="sample")
    second = api.render_files(project, ["dev"], with_infra=False).files
    job1 = yaml.safe_load(first["specs/dev/pipeline-job.yml"])
    job2 = yaml.safe_load(second["specs/dev/pipeline-job.yml"])
    assert job1["name"] != job2["name"]
    assert job1["inputs"]["train_file_path"] != job2["inputs"]["train_file_path"]
