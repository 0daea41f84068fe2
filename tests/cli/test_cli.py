"""One CLI style: shared options mean the same everywhere, --version works, files go into the project."""

from __future__ import annotations

import re

from support import run_cli

SINGLE_ENV = ("plan", "apply", "invoke", "destroy", "up", "rollback", "logs", "metrics", "reap")
MULTI_ENV = ("render", "validate")


def test_version_exits_0(capsys):
    from generator import __version__

    code, out, err = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"amlgen {__version__}"


def _help(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv, "--help")
    assert code == 0, err
    return out


def test_the_shared_options_are_the_same_everywhere(capsys):
    for command in SINGLE_ENV + MULTI_ENV + ("lock", "promote"):
        text = _help(capsys, command)
        assert re.search(r"--project\s+-C|-C,\s+--project|--project\s*,\s*-C", text) or "-C" in text, command
    for command in SINGLE_ENV + MULTI_ENV:
        text = _help(capsys, command)
        assert "--env" in text and "-e" in text, command
    for command in ("plan", "apply", "invoke", "destroy", "rollback", "lock", "promote", "logs", "metrics"):
        assert "--target" in _help(capsys, command), command
    for command in ("prepare", "preview", "stats", "sample-request"):
        text = _help(capsys, "data", command)
        assert "--env" in text and "-C" in text, command


def test_env_is_never_defaulted(capsys, project):
    for argv in (["plan"], ["data", "prepare"], ["up"]):
        code, out, err = run_cli(capsys, *argv, "-C", str(project))
        assert code == 64 and "give --env NAME" in err, argv


def test_import_component_writes_into_the_project_not_the_package(capsys, project, tmp_path):
    import generator.catalog as catalog

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: my_component\nversion: 1.2.3\ntype: pipeline\ninputs:\n  lr: {type: number, default: 0.1}\n"
                    "outputs:\n  model: {type: mlflow_model}\n")
    before = sorted(p.name for p in catalog.COMPONENTS_DIR.iterdir())
    code, out, err = run_cli(capsys, "catalog", "import-component", str(spec), "-C", str(project))
    assert code == 0, err
    written = project / "infra/catalog/components/my_component/1.2.3.yaml"
    assert written.is_file() and str(written.relative_to(project)) in out
    assert sorted(p.name for p in catalog.COMPONENTS_DIR.iterdir()) == before  # the installed package is untouched
    assert catalog.load_interface("my_component", "1.2.3", project).inputs["lr"].type == "number"
