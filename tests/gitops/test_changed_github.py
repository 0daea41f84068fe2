"""`amlgen changed` (which environments a change touches) and `amlgen github comment|issue` (one comment, one
issue) without a workflow around them."""

from __future__ import annotations

import json

import pytest
from gitops_support import commit_change, edit, git
from support import run_cli

from generator.changes import envs_for

KNOWN = ["dev", "prod"]


@pytest.mark.parametrize("files, envs", [
    (["infra/environments/dev.yml"], ["dev"]),
    (["specs/prod/deployment.yml"], ["prod"]),
    (["infra/params/dev/main.bicepparam"], ["dev"]),
    (["infra/defaults.yml"], KNOWN),
    (["templates/compute.yml.j2"], KNOWN),
    (["infra/prices.yaml"], KNOWN),
    (["generator/engine/plan.py"], KNOWN),
    (["README.md", "docs/gitops.md", ".github/workflows/amlgen-pr.yml", "infra/bicep/main.bicep", "tests/x.py"], []),
    (["specs/development/x.yml", "infra/environments/dev.yml.bak"], []),
    (["infra/environments/dev.yml", "specs/prod/model.yml"], KNOWN),
])
def test_files_map_to_environments(files, envs):
    assert envs_for(files, KNOWN).envs == envs


def test_changed_against_a_base(project, capsys):
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "base")
    base = git(project, "rev-parse", "HEAD")
    edit(project / "infra/environments/dev.yml", "tags:\n", "deployment:\n  instance_count: 2\n\ntags:\n")
    commit_change(project, "dev", ["dev"])
    code, out, err = run_cli(capsys, "changed", "--base", base, "-C", str(project))
    assert (code, out) == (0, "dev\n") and err.startswith("dev: infra/environments/dev.yml, ")
    assert "specs/dev/deployment.yml" in err
    code, out, _ = run_cli(capsys, "changed", "--base", base, "--format", "json", "-C", str(project))
    assert json.loads(out) == ["dev"]
    code, out, _ = run_cli(capsys, "changed", "--base", "0" * 40, "-C", str(project))
    assert out == "dev\nprod\n"
    code, out, _ = run_cli(capsys, "changed", "--base", "HEAD", "--format", "json", "-C", str(project))
    assert json.loads(out) == []


def test_changed_errors_are_one_line(project, capsys):
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "base")
    code, _, err = run_cli(capsys, "changed", "--base", "origin/main", "-C", str(project))
    assert code == 1 and err.count("\n") == 1 and "--base origin/main: no such revision" in err and "fetch" in err
    code, _, err = run_cli(capsys, "changed", "-C", str(project))
    assert code == 64 and "--base REF or --all" in err
    code, _, err = run_cli(capsys, "changed", "--base", "--all", "-C", str(project))
    assert code == 64


# --------------------------------------------------------------------------- github
@pytest.fixture
def gh_env(github_api, monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_API_URL", github_api.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", github_api.repo)
    monkeypatch.setenv("GITHUB_TOKEN", github_api.token)
    body = tmp_path / "body.md"
    body.write_text("plan text\n")
    return body


def test_comment_is_created_once_then_edited(github_api, gh_env, capsys):
    for n in range(5):
        github_api.add_comment(3, f"chat {n}")
    code, out, _ = run_cli(capsys, "github", "comment", "--pr", "3", "--body-file", str(gh_env))
    assert code == 0 and out.startswith("comment created: https://github.test/c/")
    gh_env.write_text("plan text, second push\n")
    code, out, _ = run_cli(capsys, "github", "comment", "--pr", "3", "--body-file", str(gh_env))
    assert code == 0 and out.startswith("comment updated")
    ours = [c for c in github_api.comments[3] if "<!-- amlgen:plan -->" in c["body"]]
    assert len(ours) == 1 and "second push" in ours[0]["body"] and len(github_api.comments[3]) == 6
    # another marker is another comment
    run_cli(capsys, "github", "comment", "--pr", "3", "--marker", "other", "--body-file", str(gh_env))
    assert len(github_api.comments[3]) == 7


def test_issue_is_opened_updated_and_closed(github_api, gh_env, capsys):
    args = ["github", "issue", "--title", "drift", "--body-file", str(gh_env)]
    assert run_cli(capsys, *args, "--resolved")[1] == "issue none\n"
    assert run_cli(capsys, *args, "--label", "drift")[1].startswith("issue created")
    assert run_cli(capsys, *args)[1].startswith("issue updated")
    assert len(github_api.issues) == 1 and github_api.issues[0]["labels"] == [{"name": "drift"}]
    assert run_cli(capsys, *args, "--resolved")[1].startswith("issue closed")
    assert github_api.issues[0]["state"] == "closed"
    assert run_cli(capsys, *args)[1].startswith("issue created")  # drift again: a new issue
    assert len(github_api.issues) == 2


def test_github_errors_name_what_is_missing(github_api, gh_env, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_TOKEN")
    code, _, err = run_cli(capsys, "github", "comment", "--pr", "3", "--body-file", str(gh_env))
    assert code == 1 and "GITHUB_TOKEN (or GH_TOKEN)" in err and "\n" not in err.strip()
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    code, _, err = run_cli(capsys, "github", "comment", "--pr", "3", "--body-file", str(gh_env))
    assert code == 1 and "HTTP 401: Bad credentials" in err and "wrong" not in err
    monkeypatch.setenv("GITHUB_TOKEN", github_api.token)
    code, _, err = run_cli(capsys, "github", "comment", "--pr", "3", "--marker", "no spaces", "--body-file", str(gh_env))
    assert code == 64
    code, _, err = run_cli(capsys, "github", "issue", "--title", "t", "--body-file", "/nonexistent/body.md")
    assert code == 1 and "/nonexistent/body.md: no such file" in err


def test_a_long_body_is_cut_to_what_github_accepts(github_api, gh_env, capsys):
    gh_env.write_text("x" * 70_000)
    assert run_cli(capsys, "github", "comment", "--pr", "1", "--body-file", str(gh_env))[0] == 0
    body = github_api.comments[1][0]["body"]
    assert len(body) < 65_536 and "cut" in body
