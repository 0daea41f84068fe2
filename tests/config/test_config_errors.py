"""Bad environment definitions: one line naming file, line and key; exit 1; no traceback; specs untouched."""

from __future__ import annotations

import re

import pytest
from support import append, run_cli, tree_digest

from generator.errors import EXIT_INVALID, EXIT_USAGE
from generator.writer import write_files

# (what is appended to / replaced in infra/environments/dev.yml, expected error regex)
CASES = {
    "unknown key (typo)": ("compute:\n  max_instancez: 3\n",
                           r"infra/environments/dev\.yml:\d+: compute\.max_instancez: unknown key \(did you mean 'max_instances'\?\)"),
    "unknown section": ("computer:\n  size: x\n", r"infra/environments/dev\.yml:\d+: computer: unknown key \(did you mean 'compute'\?\)"),
    "wrong type": ("compute:\n  max_instances: \"3\"\n",
                   r"infra/environments/dev\.yml:\d+: compute\.max_instances: input should be a valid integer, got the string '3' \(remove the quotes\)"),
    "bool for a string": ("endpoint:\n  auth_mode: true\n", r"infra/environments/dev\.yml:\d+: endpoint\.auth_mode: "),
    "float as YAML-1.1 string": ("inference:\n  temperature: 6e-1\n",
                                 r"inference\.temperature: .*got the string '6e-1' \(YAML 1\.1 reads 5e-6 as a string: write 5\.0e-06\)"),
    "invalid endpoint name": ("endpoint:\n  name: 9-starts-with-digit\n",
                              r"infra/environments/dev\.yml:\d+: endpoint\.name: invalid name '9-starts-with-digit': must be 3-32 letters, digits or hyphens, starting with a letter"),
    "endpoint name too long": ("endpoint:\n  name: " + "a" * 33 + "\n", r"endpoint\.name: invalid name 'a{33}'"),
    "endpoint name too short": ("endpoint:\n  name: ab\n", r"endpoint\.name: invalid name 'ab'"),
    "endpoint name ending in a hyphen": ("endpoint:\n  name: ultrachat-\n",
                                         r"infra/environments/dev\.yml:\d+: endpoint\.name: invalid name 'ultrachat-': must be .*not ending with a hyphen"),
    "invalid compute name": ("compute:\n  name: gpu_cluster_with_a_long_name\n", r"compute\.name: invalid name .*2-16 letters"),
    "invalid region": ("workspace:\n  location: East US\n", None),  # duplicate 'workspace' key: see below
    "finetune input typo": ("finetune:\n  num_train_epochz: 3\n",
                            r"infra/environments/dev\.yml:\d+: finetune\.num_train_epochz: 'num_train_epochz' is not an input of chat_completion_pipeline 0\.0\.82 \(did you mean 'num_train_epochs'\?\)"),
    "finetune bool enum": ("finetune:\n  apply_lora: true\n", r"finetune\.apply_lora: expects a string, got bool True \(write \"true\" in quotes\)"),
    "finetune 5e-6": ("finetune:\n  learning_rate: 5e-6\n", r"finetune\.learning_rate: expects a number, got str '5e-6'"),
    "finetune enum": ("finetune:\n  lr_scheduler_type: cosin\n", r"finetune\.lr_scheduler_type: must be one of"),
    "finetune below min": ("finetune:\n  per_device_train_batch_size: 0\n", r"finetune\.per_device_train_batch_size: must be >= 1"),
    "finetune integer beyond 32 bits": ("finetune:\n  per_device_train_batch_size: " + "9" * 401 + "\n",
                                        r"infra/environments/dev\.yml:\d+: finetune\.per_device_train_batch_size: must be an "
                                        r"integer from -2147483648 to 2147483647 \(32 bits\), got 9999999999\.\.\.\(401 digits\)"),
    "finetune integer 2**31": ("finetune:\n  per_device_train_batch_size: 2147483648\n",
                               r"finetune\.per_device_train_batch_size: must be an integer from .* got 2147483648$"),
    "tag name with a slash": (("tags:\n", "tags:\n  team/owner: x\n"),
                              r"infra/environments/dev\.yml:\d+: tags\.team/owner: the tag name 'team/owner' holds /; Azure refuses"),
    "tag name with a percent": (("tags:\n", "tags:\n  'a%b': x\n"), r"infra/environments/dev\.yml:\d+: tags\.a%b: .*holds %"),
    "tag name of 513 characters": (("tags:\n", "tags:\n  " + "k" * 513 + ": x\n"),
                                   r"infra/environments/dev\.yml:\d+: tags\.k{513}: the tag name is 513 characters; Azure allows at most 512"),
    "tag value of 257 characters": (("tags:\n", "tags:\n  owner: " + "v" * 257 + "\n"),
                                    r"infra/environments/dev\.yml:\d+: tags\.owner: the tag value is 257 characters; Azure allows at most 256"),
    "managed input": ("finetune:\n  compute_finetune: other\n", r"finetune\.compute_finetune: 'compute_finetune' is set by amlgen from compute"),
    "min above max": ("compute:\n  min_instances: 3\n", r"infra/environments/dev\.yml:\d+: compute: min_instances \(3\) exceeds max_instances \(1\)"),
    "retired sku": ("compute:\n  size: Standard_NC24s_v3\n", r"infra/environments/dev\.yml:\d+: compute\.size: VM size 'Standard_NC24s_v3' is retired"),
    "not in the locked allow-list": ("deployment:\n  instance_type: Standard_NC4as_T4_v3\n",
                                     r"infra/environments/dev\.yml:\d+: deployment\.instance_type: 'Standard_NC4as_T4_v3' is not in "
                                     r"Phi-3-mini-4k-instruct 14's inference_compute_allow_list \(.*infra/lock\.yml:\d+\)"),
    "below the minimum SKU": ("deployment:\n  instance_type: Standard_NC4as_T4_v3\n  allow_list_exception: cheaper for dev\n",
                              r"deployment\.instance_type: 'Standard_NC4as_T4_v3' is below Phi-3-mini-4k-instruct 14's "
                              r"minimum inference SKU \(vCPUs 4 < 6, memory GB 28 < 112\)"),
    "unknown sku": ("compute:\n  size: Standard_NC24ads_A100_v5\n",
                    r"compute\.size: unknown VM size 'Standard_NC24ads_A100_v5'"),
    "data split not prepared": ("data:\n  test_split: test_other\n", r"data: test_split 'test_other' is not one of the prepared splits"),
    "percent out of range": ("data:\n  percent: 101\n", r"data\.percent: input should be less than or equal to 100"),
    "duplicate key": ("workspace:\n  name: x-dup\n", r"infra/environments/dev\.yml:\d+: duplicate key 'workspace' \(first at line \d+\)"),
    "malformed YAML": ("compute:\n  size: [oops\n", r"infra/environments/dev\.yml:\d+: malformed YAML: "),
    "not a mapping": (None, r"infra/environments/dev\.yml:1: must be a mapping of sections"),
}
CASES["invalid region"] = ("", None)


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][1]])
def test_bad_environment_definition(project, capsys, case):
    text, pattern = CASES[case]
    env_file = project / "infra/environments/dev.yml"
    if text is None:
        env_file.write_text("- just\n- a list\n")
    elif isinstance(text, tuple):
        env_file.write_text(env_file.read_text().replace(*text))
    else:
        append(env_file, text)
    before = tree_digest(project / "specs")
    for argv in (["render", "--all"], ["render", "--env", "dev", "--check"]):
        code, out, err = run_cli(capsys, *argv, "-C", str(project))
        assert code == EXIT_INVALID, (argv, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert re.search(pattern, lines[0]), lines[0]
        assert "Traceback" not in err
    assert tree_digest(project / "specs") == before


def test_bad_defaults_file_names_defaults(project, capsys):
    text = (project / "infra/defaults.yml").read_text().replace("learning_rate: 5.0e-06", "learning_rate: 5e-6")
    (project / "infra/defaults.yml").write_text(text)
    code, out, err = run_cli(capsys, "render", "--all", "-C", str(project))
    assert code == EXIT_INVALID
    assert re.match(r"error: infra/defaults\.yml:\d+: finetune\.learning_rate: expects a number", err)


def test_invalid_region(project, capsys):
    path = project / "infra/environments/dev.yml"
    path.write_text(path.read_text().replace("location: eastus2", "location: East US"))
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID
    assert re.match(r"error: infra/environments/dev\.yml:\d+: workspace\.location: invalid name 'East US'", err)


def test_missing_required_value(project, capsys):
    path = project / "infra/environments/dev.yml"
    path.write_text(path.read_text().replace("  subscription_id: 00000000-0000-0000-0000-000000000000\n", ""))
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID
    assert re.match(r"error: infra/environments/dev\.yml:\d+: workspace\.subscription_id: required value is missing", err)


def test_undefined_template_variable(project, capsys):
    path = project / "templates/deployment.yml.j2"
    path.write_text(path.read_text().replace("[[ deployment.instance_count | y ]]", "[[ deployment.instance_cuont | y ]]"))
    before = tree_digest(project / "specs")
    code, out, err = run_cli(capsys, "render", "--all", "-C", str(project))
    assert code == EXIT_INVALID
    assert re.match(r"error: templates/deployment\.yml\.j2:\d+: undefined variable: .*instance_cuont", err), err
    assert tree_digest(project / "specs") == before


def test_template_syntax_error(project, capsys):
    path = project / "templates/model.yml.j2"
    path.write_text(path.read_text() + "[% if %]\n")
    code, out, err = run_cli(capsys, "render", "--all", "-C", str(project))
    assert code == EXIT_INVALID and re.match(r"error: templates/model\.yml\.j2:\d+: ", err)


def test_unknown_environment_and_usage(project, capsys):
    code, out, err = run_cli(capsys, "render", "--env", "qa", "-C", str(project))
    assert code == EXIT_INVALID and "unknown environment 'qa' (known: dev, prod)" in err
    code, out, err = run_cli(capsys, "render", "-C", str(project))
    assert code == EXIT_USAGE and "give --env NAME or --all" in err
    bad = project / "infra/environments/Bad_Name.yml"
    bad.write_text("{}\n")
    code, out, err = run_cli(capsys, "render", "--all", "-C", str(project))
    assert code == EXIT_INVALID and "environment name 'Bad_Name'" in err


def test_one_bad_env_blocks_all_writes(project, capsys):
    """--all renders everything in memory first: a bad prod leaves dev's (changed) specs unwritten too."""
    append(project / "infra/environments/dev.yml", "finetune:\n  num_train_epochs: 5\n")
    append(project / "infra/environments/prod.yml", "compute:\n  max_instancez: 3\n")
    before = tree_digest(project / "specs")
    code, out, err = run_cli(capsys, "render", "--all", "-C", str(project))
    assert code == EXIT_INVALID and "infra/environments/prod.yml" in err
    assert tree_digest(project / "specs") == before


def test_writer_failure_keeps_previous_tree(project):
    """A write that fails part-way (a file name the OS refuses) leaves the old directory as it was, no temp dirs."""
    before = tree_digest(project / "specs")
    files = {"specs/dev/compute.yml": "changed\n", "specs/dev/bad\0name.yml": "x\n"}
    with pytest.raises(ValueError):
        write_files(project, files, ["specs/dev"])
    assert tree_digest(project / "specs") == before
    assert sorted(p.name for p in (project / "specs").iterdir()) == ["dev", "prod"]


def test_writer_is_atomic_swap_and_skips_unchanged(project):
    dev = project / "specs/dev"
    mtimes = {p.name: p.stat().st_mtime_ns for p in dev.iterdir()}
    report = write_files(project, {f"specs/dev/{p.name}": p.read_text() for p in dev.iterdir()}, ["specs/dev"])
    assert not report.changed and {p.name: p.stat().st_mtime_ns for p in dev.iterdir()} == mtimes
    report = write_files(project, {"specs/dev/only.yml": "a: 1\n"}, ["specs/dev"])
    assert report.written == ["specs/dev/only.yml"] and len(report.removed) == 6
    assert [p.name for p in dev.iterdir()] == ["only.yml"]
    assert sorted(p.name for p in (project / "specs").iterdir()) == ["dev", "prod"]
