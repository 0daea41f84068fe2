"""``amlgen init``: a new project, made from amlgen's own repository files (the scaffold).

The one table of what a project holds is ``table.ROWS`` (see its docstring). This package:

- finds the scaffold's sources (``source_root``): in a wheel, ``generator/scaffold/repo/`` (copied there by the
  build hook in ``setup.py``); in an editable install or a checkout, the repository itself, so the repository's
  ``infra/`` and ``templates/`` are the scaffold and no second copy exists;
- turns the user's answers into the project's files in memory (``Answers``, ``build``);
- creates the project whole or not at all (``create.create``) and compares a project with the installed
  scaffold (``upgrade.diff`` / ``upgrade.update``).

    from generator import scaffold
    answers = scaffold.answers(envs=["dev", "prod"], workspace=["mlw-team-{env}"])   # unset: marked placeholders
    files = scaffold.build(answers, project="team-ml")   # {path: text}, before render
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from ..errors import ToolFailure, UsageProblem
from ..names import RULES
from . import envfile
from .table import BUNDLE_DIR, DEFAULT_ENVS, MODELS, ROWS, Row, matches

FILES_DIR = Path(__file__).parent / "files"
OPTIONS = {"subscription_id": "--subscription", "resource_group": "--resource-group", "name": "--workspace",
           "location": "--location"}


# --------------------------------------------------------------------------- where the scaffold comes from
def source_root() -> Path:
    """The folder holding the ``repo:`` sources: the wheel's bundle, else the repository of a checkout."""
    bundle = Path(__file__).parent / Path(BUNDLE_DIR).name
    if bundle.is_dir():
        return bundle
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "templates").is_dir() and (repo / "infra").is_dir():
        return repo
    raise ToolFailure(f"amlgen's scaffold is missing from this installation (no {bundle}); reinstall amlgen "
                      "from a wheel built by its own build (pip install amlgen, or pip install <repository>)")


def read_source(rel: str) -> str:
    path = source_root() / rel
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolFailure(f"amlgen's scaffold file {rel} cannot be read ({exc})") from None


def source_files(pattern: str) -> list[str]:
    """The ``repo:`` files one glob names (relative to the source root)."""
    try:
        return matches(source_root(), pattern)
    except FileNotFoundError as exc:
        raise ToolFailure(str(exc)) from None


# --------------------------------------------------------------------------- the user's answers
@dataclass
class Answers:
    """The environments to create and each one's workspace coordinates (None: a marked placeholder)."""

    envs: list[str] = field(default_factory=lambda: list(DEFAULT_ENVS))
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)  # env -> model, where not by position (init --diff)

    def model(self, env: str) -> str:
        """The repository environment that ``env`` is modelled on: the first on the first, the rest on the last."""
        return self.models.get(env) or MODELS[min(self.envs.index(env), len(MODELS) - 1)]

    def training(self) -> str:
        """The project's training environment (the first one modelled on the first model, which trains): the
        ``promotion.source`` of every environment that deploys."""
        return next((env for env in self.envs if self.model(env) == MODELS[0]), self.envs[0])

    def of(self, env: str) -> dict[str, str | None]:
        return {key: self.values.get(env, {}).get(key) for key in envfile.WORKSPACE_KEYS}


def env_problem(name: str) -> str | None:
    rule = RULES["environment"]
    return None if rule.ok(name) else f"environment name {name!r} must be {rule.wording}"


def answers(envs: list[str] | None = None, *, subscription: list[str] | str | None = None,
            resource_group: list[str] | str | None = None, workspace: list[str] | str | None = None,
            location: list[str] | str | None = None) -> Answers:
    """Answers from command-line style values: ``VALUE`` for every environment (``{env}`` is replaced by the
    environment's name) or ``ENV=VALUE`` for one. Every name is checked against Azure's rules (UsageProblem)."""
    names = list(envs) if envs else list(DEFAULT_ENVS)
    for name in names:
        if (why := env_problem(name)) is not None:
            raise UsageProblem(f"--env {name!r}: {why}")
    if len(set(names)) != len(names):
        raise UsageProblem(f"--env: an environment is named twice ({', '.join(names)})")
    out = Answers(envs=names, values={n: {} for n in names})
    given = {"subscription_id": subscription, "resource_group": resource_group, "name": workspace,
             "location": location}
    for key, raw in given.items():
        items = [raw] if isinstance(raw, str) else list(raw or [])
        for item in items:
            env, sep, value = item.partition("=")
            targets = [env] if sep else names
            if not sep:
                value = item
            elif env not in names:
                raise UsageProblem(f"{OPTIONS[key]} {item!r}: no environment {env!r} (environments: {', '.join(names)})")
            for name in targets:
                text = value.replace("{env}", name)
                if (why := envfile.problem(key, text)) is not None:
                    raise UsageProblem(f"{OPTIONS[key]} {text!r}: {why}")
                out.values[name][key] = text
    seen: dict[tuple[str, ...], str] = {}
    for name in names:
        vals = out.of(name)
        if all(vals[k] is not None for k in ("subscription_id", "resource_group", "name")):
            where = (vals["subscription_id"].lower(), vals["resource_group"].lower(), vals["name"].lower())  # type: ignore[union-attr]
            if where in seen:
                raise UsageProblem(f"environments {seen[where]!r} and {name!r} would manage the same workspace "
                                   f"{'/'.join(where)}; give each its own (e.g. --workspace 'mlw-team-{{env}}')")
            seen[where] = name
    return out


def model_values(model: str) -> dict[str, str]:
    """The workspace values of a model environment (what placeholders are made from)."""
    rel = f"infra/environments/{model}.yml"
    spans = envfile.scalar_spans(read_source(rel), rel)
    return {key: str(spans[("workspace", key)].value) for key in envfile.WORKSPACE_KEYS if ("workspace", key) in spans}


def default_value(answers: Answers, env: str, key: str) -> str:
    """The placeholder ``key`` of ``env`` gets when the user gives no value."""
    model = answers.model(env)
    return envfile.placeholder(key, model_values(model)[key], model, env)


# --------------------------------------------------------------------------- the files, in memory
def row_files(row: Row, answers: Answers, project: str) -> dict[str, str]:
    """The files one row of the table gives the new project."""
    kind, _, source = row.source.partition(":")
    if row.how == "environment":
        renames = {answers.model(env): env for env in reversed(answers.envs)}  # another model's name: its first env
        out = {}
        for env in answers.envs:
            model = answers.model(env)
            rel = source.format(model=model)
            out[row.path.format(env=env)] = envfile.environment_text(
                read_source(rel), rel, model=model, env=env, values=answers.of(env), renames={**renames, model: env},
                source=answers.training())
        return out
    if row.how == "defaults":
        regions = [answers.of(env)["location"] or default_value(answers, env, "location") for env in answers.envs]
        return {row.path: envfile.defaults_text(read_source(source), source, regions) if regions else read_source(source)}
    if kind == "repo" and row.how == "copy":
        if row.path.endswith("/"):
            prefix = source.split("*", 1)[0].rsplit("/", 1)[0] + "/"
            return {row.path + rel[len(prefix):]: read_source(rel) for rel in source_files(source)}
        return {row.path: read_source(source)}
    if row.how == "pre-commit":
        return {row.path: pre_commit_config(read_source(source))}
    if row.how == "workflow":
        if not workflows_fit(answers):
            return {}  # the workflows name dev and prod (jobs, GitHub environments): see notes()
        from .. import __version__

        prefix = source.split("*", 1)[0].rsplit("/", 1)[0] + "/"
        return {row.path + rel[len(prefix):]: read_source(rel).replace('AMLGEN_INSTALL: "."', f'AMLGEN_INSTALL: "amlgen=={__version__}"')
                for rel in source_files(source)}
    if kind == "own":
        try:
            text = (FILES_DIR / source).read_bytes().decode("utf-8")
        except OSError as exc:
            raise ToolFailure(f"amlgen's scaffold file {source} cannot be read ({exc.strerror})") from None
        if row.how == "readme":
            text = Template(text).substitute(project=project, envs=", ".join(answers.envs),
                                             first_env=answers.envs[0] if answers.envs else DEFAULT_ENVS[0])
        return {row.path: text}
    raise ToolFailure(f"scaffold table: row {row.path} has an unknown source or kind ({row.source}, {row.how})")


def workflows_fit(answers: Answers) -> bool:
    """The GitOps workflows name the environments dev and prod (their jobs, GitHub environments and promotion):
    they come with a project whose environments are exactly those."""
    return tuple(answers.envs) == DEFAULT_ENVS


def notes(answers: Answers) -> list[str]:
    """What init leaves out for these answers, one line each (printed by ``amlgen init``)."""
    out = []
    if not workflows_fit(answers) and any(row.how == "workflow" for row in ROWS):
        out.append(f"no GitOps workflows (.github/workflows/amlgen-*.yml): they name the environments "
                   f"{' and '.join(DEFAULT_ENVS)}; docs/gitops.md describes them and what another environment needs")
    return out


def build(answers: Answers, project: str) -> dict[str, str]:
    """Every scaffold file of the new project, ``{path: text}`` (rendered files and the record come later)."""
    files: dict[str, str] = {}
    for row in ROWS:
        files.update(row_files(row, answers, project))
    return files


def rows_by_path(answers: Answers, project: str) -> dict[str, Row]:
    """Which row each scaffold file comes from."""
    return {path: row for row in ROWS for path in row_files(row, answers, project)}


def pre_commit_config(hooks_yaml: str) -> str:
    """``.pre-commit-config.yaml`` running amlgen's own hooks (``.pre-commit-hooks.yaml``) from the local amlgen."""
    body = [line for line in hooks_yaml.splitlines() if not line.startswith("#")]
    head = ("# pre-commit (https://pre-commit.com): run `pre-commit install` once; every commit then checks that\n"
            "# specs/ are current and valid. The hooks are amlgen's own (its .pre-commit-hooks.yaml) and run the\n"
            "# `amlgen` on your PATH (language: system).\n"
            "repos:\n"
            "  - repo: local\n"
            "    hooks:\n")
    return head + "".join(f"      {line}\n" if line.strip() else "\n" for line in body)
