"""Hostile files where amlgen reads: FIFOs, devices, oversize files, deep JSON, links out of the project.

Every file amlgen reads from the project or the command line goes through ``yamlutil.read_bytes`` (regular files
only, opened without blocking, bounded in size) and every JSON document through ``yamlutil.loads_json``. Each
refusal is one line naming the file, exit 1, no traceback, nothing written, and prompt: the cases that would hang
or eat memory before the fix run in a child process with a timeout and an address-space limit.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest
from engine_support import REPO, subprocess_cmd
from hostile_support import refused, snapshot

from generator.errors import EXIT_INVALID

MEMORY_LIMIT = 3 << 30  # the child's address space: reading /dev/zero whole would otherwise take the machine


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _child(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    try:
        return subprocess.run(subprocess_cmd(*args, "-C", str(project)), cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=timeout, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"amlgen {' '.join(args)} hung")


def _refused_in_child(proc: subprocess.CompletedProcess, where: str, pattern: str = "") -> None:
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert proc.returncode == EXIT_INVALID, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert where in lines[0] and pattern in lines[0], lines[0]


# --------------------------------------------------------------------------- defect 1: FIFOs, devices, size
@pytest.mark.parametrize("where", ["infra/environments/dev.yml", "templates/endpoint.yml.j2"])
def test_a_config_file_that_is_a_fifo_is_refused_promptly(project, where):
    path = project / where
    path.unlink()
    os.mkfifo(path)
    try:
        proc = subprocess.run(subprocess_cmd("render", "--env", "dev", "--check", "-C", str(project)), cwd=REPO,
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"render --check hung reading the FIFO {where}")
    assert proc.returncode == EXIT_INVALID and where in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("where", ["infra/environments/dev.yml", "infra/defaults.yml", "templates/endpoint.yml.j2"])
def test_a_config_file_linked_to_dev_zero_is_refused_promptly(project, where):
    """Refused before it is opened (the link leads out of the project); bounded memory either way."""
    path = project / where
    path.unlink()
    os.symlink("/dev/zero", path)
    _refused_in_child(_child(project, "render", "--env", "dev", "--check"), where, "")


@pytest.mark.parametrize("where", ["infra/environments/dev.yml", "templates/endpoint.yml.j2"])
def test_an_oversize_config_file_is_refused(run, project, where):
    path = project / where
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(("# " + "x" * 1000 + "\n") * 9000)  # 9 MB of comments: valid, but no config is that large
    before = snapshot(project)
    r = run("render", "--env", "dev", target=None)
    refused(r, EXIT_INVALID, rf"{where}: larger than \d+ MB")
    assert snapshot(project) == before


def test_invoke_with_a_request_that_is_a_fifo_is_refused_promptly(emu, project, tmp_path):
    request = tmp_path / "request.json"
    os.mkfifo(request)
    proc = _child(project, "invoke", "--env", "dev", "--target", "local", "--request", str(request))
    _refused_in_child(proc, "request.json", "FIFO")


def test_invoke_with_a_request_linked_to_dev_zero_is_refused(emu, project, tmp_path):
    request = tmp_path / "request.json"
    os.symlink("/dev/zero", request)
    proc = _child(project, "invoke", "--env", "dev", "--target", "local", "--request", str(request))
    _refused_in_child(proc, "request.json", "character device")


# --------------------------------------------------------------------------- defect 2: deeply nested JSON
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def test_invoke_with_a_deeply_nested_request(run, emu, project, tmp_path):
    request = tmp_path / "deep.json"
    request.write_text(DEEP_JSON)
    r = run("invoke", "--env", "dev", "--request", str(request))
    refused(r, EXIT_INVALID, r"deep\.json")


def test_render_with_a_deeply_nested_manifest(run, project):
    manifest = next((project / "data").rglob("manifest.json"))
    manifest.write_text(DEEP_JSON)
    r = run("render", "--env", "dev", "--check", target=None)
    refused(r, EXIT_INVALID, r"manifest\.json")


def test_data_prepare_replaces_a_deeply_nested_manifest(run, project):
    """The dataset step treats an unreadable manifest as "not prepared" and prepares again (it crashed before)."""
    manifest = next((project / "data").rglob("manifest.json"))
    manifest.write_text(DEEP_JSON)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    assert r.code == 0 and "Traceback" not in r.text, r.text
    assert isinstance(json.loads(manifest.read_text()), dict)


def test_invoke_with_a_deeply_nested_sample_request(run, emu, project):
    from generator.config import load_environment
    from generator.data import sample_request_path

    path = sample_request_path(load_environment(project, "dev"), project)
    path.write_text(DEEP_JSON)
    r = run("invoke", "--env", "dev")
    refused(r, EXIT_INVALID, r"sample_request\.dev\.json")


def test_a_deeply_nested_emulator_state_is_refused(run, project):
    (project / ".amlgen/emulator.json").write_text(DEEP_JSON)
    r = run("plan", "--env", "dev")
    refused(r, EXIT_INVALID, r"emulator\.json")


# --------------------------------------------------------------------------- defect 4: the emulator is loopback
@pytest.mark.parametrize("host", ["10.0.0.5", "example.com", "[2001:db8::1]", "127.0.0.1.example.com"])
def test_the_emulator_state_may_not_point_at_another_host(run, project, host):
    path = project / ".amlgen/emulator.json"
    state = json.loads(path.read_text())
    state["base_url"] = f"https://{host}:8443"
    path.write_text(json.dumps(state))
    r = run("plan", "--env", "dev")
    refused(r, EXIT_INVALID, r"emulator\.json.*loopback")


# --------------------------------------------------------------------------- defect 3: links out of the project
@pytest.mark.parametrize("where", ["infra/environments/dev.yml", "infra/defaults.yml", "templates/endpoint.yml.j2",
                                   "templates"])
def test_config_read_through_a_link_out_of_the_project_is_refused(run, project, outside, where):
    """A valid file (or the whole templates/ folder) moved outside and linked back: refused, not rendered."""
    import shutil

    path = project / where
    moved = outside / path.name
    shutil.move(path, moved)
    os.symlink(moved, path)
    before = snapshot(project)
    r = run("render", "--env", "dev", target=None)
    refused(r, EXIT_INVALID, r"(infra|templates)/\S+: leads out of the project through a symbolic link")
    assert snapshot(project) == before


def test_a_link_inside_the_project_is_still_read(run, project):
    """Links that stay inside the project are fine (the rule is about leaving it, not about links)."""
    path = project / "templates/endpoint.yml.j2"
    kept = project / "templates-shared"
    kept.mkdir()
    os.replace(path, kept / "endpoint.yml.j2")
    os.symlink("../templates-shared/endpoint.yml.j2", path)
    before = (project / "specs/dev/endpoint.yml").read_text()
    r = run("render", "--env", "dev", target=None)
    assert r.code == 0, r.text
    assert (project / "specs/dev/endpoint.yml").read_text() == before


# --------------------------------------------------------------------------- defect 5: what the YAML limits say
def test_a_huge_document_without_aliases_is_not_called_an_alias_bomb():
    from generator.errors import ConfigError
    from generator.yamlutil import loads_with_origins, safe_load

    text = "[" + ",".join(["1"] * 100_001) + "]"  # 100,002 nodes, no alias
    for load in (loads_with_origins, safe_load):
        with pytest.raises(ConfigError, match=r"^big\.yml:1: more than 100,000 YAML nodes") as caught:
            load(text, "big.yml")
        assert "alias" not in str(caught.value)


def test_an_alias_bomb_is_still_called_one():
    from generator.errors import ConfigError
    from generator.yamlutil import loads_with_origins

    text = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcd", "bcde"))
    with pytest.raises(ConfigError, match=r"YAML aliases expand to more than 100,000 nodes.*alias bomb"):
        loads_with_origins(text, "bomb.yml")


def test_a_nul_byte_in_a_config_file_is_named_by_line(run, project):
    path = project / "infra/environments/dev.yml"
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(2, "# a comment with a \0 in it\n")
    path.write_text("".join(lines))
    r = run("render", "--env", "dev", "--check", target=None)
    refused(r, EXIT_INVALID, r"^error: infra/environments/dev\.yml:3: malformed YAML: .*#x0000.* column 20$")
