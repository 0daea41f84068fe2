"""The render spine's shortcuts change nothing: the one-command group the CLI builds for ``amlgen <command> ...``
is the whole group's command, parsed YAML is cached per text without sharing objects, and memoised YAML scalars
keep every type and sign. (Speed itself is measured by benchmarks/bench_spine.py, never asserted here.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from support import REPO, append, run_cli

from generator import yamlutil
from generator.cli.app import app, command

PARAM_FIELDS = ("name", "opts", "secondary_opts", "required", "nargs", "multiple", "default", "is_flag", "is_eager",
                "expose_value", "envvar", "hidden", "help", "metavar", "count", "show_default")


def _shape(cmd, name: str) -> tuple:
    """A command as the user meets it: its help text under ``amlgen <name>`` and every parameter's settings."""
    from typer._click import Context

    params = tuple((type(p).__name__, repr(getattr(getattr(p, "type_descriptor", None), "annotation", None)),
                    *(repr(getattr(p, f, None)) for f in PARAM_FIELDS)) for p in cmd.params)
    sub = tuple(sorted((n, _shape(c, f"{name} {n}")) for n, c in getattr(cmd, "commands", {}).items()))
    with Context(cmd, info_name=f"amlgen {name}") as ctx:
        return cmd.get_help(ctx), params, sub


def test_the_one_command_group_is_the_whole_groups_command():
    full = typer.main.get_command(app)
    assert {"render", "validate", "plan", "apply", "data", "catalog", "github", "init"} <= set(full.commands)
    for name, cmd in full.commands.items():
        fast = command([name, "--help"])
        assert list(fast.commands) == [name]
        assert _shape(fast.commands[name], name) == _shape(cmd, name), name
        assert [p.name for p in fast.params] == [p.name for p in full.params]  # the same root options


@pytest.mark.parametrize("argv", [[], ["--help"], ["--version", "render"], ["rendr"], ["-C", "x", "render"]])
def test_anything_else_gets_the_whole_group(argv):
    assert list(command(argv).commands) == list(typer.main.get_command(app).commands)


def test_parsed_yaml_is_cached_per_text_but_never_shared():
    text = "a:\n  b: [1, 2]\n  c: &x {d: 1}\n  e: *x\n"
    first, origins = yamlutil.loads_with_origins(text, "f.yml")
    first["a"]["b"].append(3)
    first["a"]["c"]["d"] = 2
    origins[("z",)] = ("f.yml", 9)
    again, origins_again = yamlutil.loads_with_origins(text, "f.yml")
    assert again == {"a": {"b": [1, 2], "c": {"d": 1}, "e": {"d": 1}}}
    assert ("z",) not in origins_again and origins_again[("a", "e")] == ("f.yml", 4)
    loaded = yamlutil.safe_load(text, "f.yml")
    loaded["a"]["b"].clear()
    assert yamlutil.safe_load(text, "f.yml")["a"]["b"] == [1, 2]
    assert yamlutil.loads_with_origins("a: 2\n", "f.yml")[0] == {"a": 2}  # another text, another parse


def test_a_malformed_text_fails_every_time():
    for _ in range(2):
        with pytest.raises(Exception, match="malformed YAML"):
            yamlutil.loads_with_origins("a: [1\n", "bad.yml")


@pytest.mark.parametrize("value, text", [(0.0, "0.0"), (-0.0, "-0.0"), (1, "1"), (1.0, "1.0"), (True, "true"),
                                         ("1", "'1'"), ("true", "'true'"), (5e-06, "5.0e-06"), (-5e-06, "-5.0e-06")])
def test_memoised_scalars_keep_type_and_sign(value, text):
    for _ in range(2):  # the first call fills the memo, the second reads it
        assert yamlutil.scalar(value) == text
        assert type(yaml_load(text)) is type(value)


def test_scalars_that_cannot_be_written_fail_every_time():
    for _ in range(2):
        with pytest.raises(ValueError):
            yamlutil.scalar(float("nan"))


def yaml_load(text: str):
    import yaml

    return yaml.safe_load(text)


def test_a_failing_check_imports_no_azure_module_either(project, capsys):
    append(project / "infra/environments/dev.yml", "finetune:\n  lora_r: 16\n")
    code = (
        "import sys; from generator.cli import main; "
        f"assert main(['render', '--all', '--check', '-C', {str(project)!r}]) == 1; "
        "bad = [m for m in sys.modules if m.startswith('azure')]; assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "lora_r: 16" in proc.stdout  # the diff was shown
    code, out, _ = run_cli(capsys, "render", "--all", "--check", "-C", str(project))
    assert code == 1 and "lora_r" in out


def test_shipped_yaml_reads_the_same_with_either_parser():
    """``yamlutil.load_shipped`` may use libyaml's parser for the files amlgen ships: hold it to the pure one."""
    import yaml

    from generator.catalog import CATALOG_DIR

    files = sorted(p for p in CATALOG_DIR.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert any(p.name == "skus.yaml" for p in files) and any("components" in p.parts for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8")
        pure = yaml.load(text, Loader=yaml.SafeLoader)
        assert yamlutil.load_shipped(text, str(path)) == pure, path
        if getattr(yaml, "CSafeLoader", None) is not None:
            assert yaml.load(text, Loader=yaml.CSafeLoader) == pure, path


def test_a_projects_own_interface_is_read_as_a_user_file(project):
    """A project's interface is the user's file: the guarded parser's one-line error, not libyaml's."""
    from generator.catalog import PROJECT_COMPONENTS_DIR, read_interface

    path = project / PROJECT_COMPONENTS_DIR / "chat_completion_pipeline" / "9.9.9.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("inputs:\n  a: {type: string}\n\tb: 1\n", encoding="utf-8")  # a tab: libyaml accepts more
    with pytest.raises(Exception, match="malformed YAML") as info:
        read_interface(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("setting", [None, "logfire"])
def test_building_the_config_models_leaves_the_environment_as_it_was(setting):
    """The config models are built without pydantic plugins; the user's PYDANTIC_DISABLE_PLUGINS is put back."""
    code = (
        "import os, sys\n"
        f"if {setting!r} is not None: os.environ['PYDANTIC_DISABLE_PLUGINS'] = {setting!r}\n"
        "from generator.config import load_all\n"
        "from generator.settings import EnvConfig\n"
        "assert not EnvConfig.__pydantic_complete__\n"
        f"envs = load_all(__import__('pathlib').Path({str(REPO)!r}))\n"
        "assert EnvConfig.__pydantic_complete__ and [e.name for e in envs] == ['dev', 'prod']\n"
        "print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(setting)
