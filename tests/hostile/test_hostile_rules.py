"""Rules the adversarial audit (h/audit-hostile) found missing: each test failed before its fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hostile_support import refused, snapshot

from generator.errors import EXIT_INVALID, EXIT_USAGE


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


# `data prepare` followed a symlink inside data.output_dir out of the project and overwrote files there.
@pytest.mark.parametrize("link, output_dir", [("data/out", "data/out"), ("data", None)])
def test_data_prepare_does_not_follow_a_link_out_of_the_project(run, project, outside, link, output_dir):
    target = project / link
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, target)
    if output_dir:
        _append(project / "infra/environments/dev.yml", f"data:\n  output_dir: {output_dir}\n")
    before = snapshot(outside)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    refused(r, EXIT_INVALID, r"data\.output_dir|out of the project")
    assert snapshot(outside) == before


# data.output_dir could name the project itself or a folder amlgen or git owns.
@pytest.mark.parametrize("output_dir", [".", "specs/dev", "infra", ".git", "templates", ".amlgen/x", "./infra/sub"])
def test_data_output_dir_is_not_a_folder_amlgen_or_git_owns(run, project, output_dir):
    _append(project / "infra/environments/dev.yml", f"data:\n  output_dir: {output_dir}\n")
    before = snapshot(project)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    refused(r, EXIT_INVALID, r"infra/environments/dev\.yml:\d+: data\.output_dir")
    assert snapshot(project) == before


def test_data_output_dir_may_not_lead_by_a_link_into_a_folder_amlgen_owns(run, project):
    (project / "data").mkdir(exist_ok=True)
    os.symlink("../specs", project / "data/specs-link")
    _append(project / "infra/environments/dev.yml", "data:\n  output_dir: data/specs-link/dev\n")
    before = snapshot(project)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    refused(r, EXIT_INVALID, r"infra/environments/dev\.yml:\d+: data\.output_dir: .*symbolic link to .*specs/")
    assert snapshot(project) == before


# The lock was barely checked: an asset id that is not the entry's asset went into the job spec, a version that is
# not the one requested, unknown keys, an unreadable minimum SKU were all accepted.
LOCK_EDITS = {
    "asset id a local file": ("  asset_id: azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14\n",
                              "  asset_id: file:///etc/passwd\n", r"models\[0\]\.asset_id: 'file:///etc/passwd' is not the asset"),
    "asset id a relative path": ("  asset_id: azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14\n",
                                 "  asset_id: ../../specs\n", r"models\[0\]\.asset_id: '\.\./\.\./specs' is not the asset"),
    "component asset id": ("  asset_id: azureml://registries/azureml/components/chat_completion_pipeline/versions/0.0.82\n",
                           "  asset_id: azureml://registries/azureml/components/other/versions/0.0.82\n",
                           r"components\[0\]\.asset_id: .* is not the asset"),
    "requested not the version": ("  version: '14'\n  asset_id: azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14\n",
                                  "  version: '15'\n  asset_id: azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/15\n",
                                  r"models\[0\]\.requested: requested '14' is neither the locked version '15' nor a label"),
    "unknown key in a model": ("  task: chat-completion\n", "  task: chat-completion\n  colour: blue\n",
                               r"models\[0\]\.colour: unknown key"),
    "unknown top-level key": ("lock_version: 1\n", "lock_version: 1\nextra: 1\n", r"infra/lock\.yml:\d+: extra: unknown key"),
    "unknown lifecycle key": ("    archived: true\n", "    archived: true\n    retired: never\n",
                              r"models\[0\]\.lifecycle\.retired: unknown key"),
    "unreadable minimum SKU": ("    finetune: 24|1|220|64\n", "    finetune: a|b|c\n",
                               r"models\[0\]\.min_sku\.finetune: 'a\|b\|c' is not a minimum SKU spec"),
    "model name climbing": ("  name: Phi-3-mini-4k-instruct\n", "  name: ../../specs\n", r"models\[0\]\.name: '\.\./\.\./specs'"),
}


@pytest.mark.parametrize("case", LOCK_EDITS)
def test_the_lock_is_checked(run, project, case):
    old, new, pattern = LOCK_EDITS[case]
    lock = project / "infra/lock.yml"
    text = lock.read_text()
    assert old in text
    lock.write_text(text.replace(old, new, 1))
    before = snapshot(project)
    r = run("render", "--env", "dev", target=None)
    refused(r, EXIT_INVALID, pattern if pattern.startswith("infra") else r"infra/lock\.yml:\d+: " + pattern)
    assert snapshot(project) == before


@pytest.mark.parametrize("date, pattern", [
    ("'2025-99-99'", r"promoted\.date: '2025-99-99' is not a real date"),
    ("'2025-02-30'", r"promoted\.date: '2025-02-30' is not a real date"),
    # unquoted, YAML itself reads it as a timestamp: PyYAML's ValueError was a traceback (exit 3)
    ("2025-99-99", r"malformed YAML: '2025-99-99' is not a real date or time"),
    ("2025-02-30", r"malformed YAML: '2025-02-30' is not a real date or time"),
])
def test_promoted_date_is_a_real_date(run, project, date, pattern):
    _append(project / "infra/environments/prod.yml", "\npromoted:\n  registry: reg-amlgen\n  name: phi3-ultrachat\n"
            f"  version: '1'\n  source_env: dev\n  source_job: job1\n  date: {date}\n")
    before = snapshot(project)
    r = run("render", "--env", "prod", target=None)
    refused(r, EXIT_INVALID, r"infra/environments/prod\.yml:\d+: " + pattern)
    assert snapshot(project) == before


@pytest.mark.parametrize("command", [("apply", "--env", "dev"), ("logs", "--env", "dev", "--follow")])
def test_poll_interval_against_azure_is_at_least_a_second(run, project, command):
    r = run(*command, "--poll-interval", "0.5", target="azure")
    refused(r, EXIT_USAGE, r"--poll-interval must be at least 1 s against Azure, got 0\.5")


def test_poll_interval_is_above_zero_on_the_emulator(run, emu, project):
    r = run("apply", "--env", "dev", "--poll-interval", "0")
    refused(r, EXIT_USAGE, r"--poll-interval must be above 0 seconds")
    assert emu.write_calls() == 0


@pytest.mark.parametrize("command", [("data", "prepare"), ("plan",)])
def test_an_env_that_is_not_an_environment_name_is_refused_as_such(run, project, command):
    r = run(*command, "--env", "../../etc/passwd", target=None)
    refused(r, EXIT_INVALID, r"unknown environment '\.\./\.\./etc/passwd': not an environment name")
    assert "add infra/environments" not in r.err


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n"])
def test_an_empty_defaults_file_is_blamed_for_a_missing_section(run, project, text):
    (project / "infra/defaults.yml").write_text(text)
    r = run("render", "--env", "dev", "--check", target=None)
    refused(r, EXIT_INVALID, r"^error: infra/defaults\.yml:1: \w+: required section is missing")


@pytest.mark.parametrize("argv", [(), ("data",), ("catalog",)])
def test_no_command_shows_the_help_as_a_usage_error(capsys, argv):
    from generator.cli import main

    code = main(list(argv))
    cap = capsys.readouterr()
    assert code == EXIT_USAGE and "Usage: amlgen" in cap.out + cap.err
