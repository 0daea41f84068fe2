"""``amlgen init``: start a project from the installed amlgen's scaffold; ``--diff``/``--update`` take a newer one."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageProblem
from .root import app

ValuesOpt = Optional[list[str]]


def _values(name: str, what: str):
    return typer.Option(name, metavar="[ENV=]VALUE", help=f"{what}: VALUE for every environment ('{{env}}' = the environment's name) or "
                                   "ENV=VALUE (repeatable). Not given: asked on a terminal, else a marked placeholder.")


@app.command()
def init(
    directory: Annotated[Optional[Path], typer.Argument(
        metavar="DIR", show_default=False, help="The new project's folder: absent or empty (default: the current folder). With --diff/--update: "
             "the project (default: found from the current folder up).")] = None,
    env: Annotated[ValuesOpt, typer.Option("--env", "-e", metavar="NAME", help="An environment to create (repeatable; default: dev and prod).")] = None,
    subscription: Annotated[ValuesOpt, _values("--subscription", "Azure subscription id")] = None,
    resource_group: Annotated[ValuesOpt, _values("--resource-group", "Resource group of the workspace")] = None,
    workspace: Annotated[ValuesOpt, _values("--workspace", "Azure ML workspace name")] = None,
    location: Annotated[ValuesOpt, _values("--location", "Azure region")] = None,
    existing: Annotated[bool, typer.Option("--existing", help="The folder may hold other files (an existing repository): add the project beside them, never overwriting one; keeps your own README.md, .gitignore and pre-commit configuration.")] = False,
    no_input: Annotated[bool, typer.Option("--no-input", help="Never ask, even on a terminal: values not given become marked placeholders.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Compare the project's files with this amlgen's scaffold, file by file (writes nothing).")] = False,
    update: Annotated[bool, typer.Option("--update", help="Take this amlgen's version of every scaffold file the project has not edited, and new files; never an edited one.")] = False,
) -> None:
    """Start an amlgen project: infra/ (defaults, environments, Bicep), templates/, rendered specs/, pre-commit,
    .gitignore and a README. Written whole or not at all; never overwrites a file."""
    from .. import api, scaffold

    if diff or update:
        if diff and update:
            raise UsageProblem("give --diff or --update, not both")
        if env or subscription or resource_group or workspace or location or existing or no_input:
            raise UsageProblem("--diff and --update take only the project folder")
        root = api.project_root(directory)
        _show(api.init_update(root) if update else api.init_diff(root), update)
        return
    answers = scaffold.answers(env, subscription=subscription, resource_group=resource_group, workspace=workspace,
                               location=location)
    if not no_input and sys.stdin.isatty() and sys.stdout.isatty():  # a person at a terminal sees the questions
        answers = _ask_missing(answers, given_envs=bool(env))
    report = api.init(directory if directory is not None else Path("."), answers, existing=existing)
    typer.echo(f"Created an amlgen project in {report.root} ({len(report.written)} files).")
    for rel in report.kept:
        typer.echo(f"  kept your {rel} (amlgen's: `amlgen init --diff`)")
    if report.unignored:
        typer.echo(f"  warning: your .gitignore lacks {', '.join(report.unignored)}: add them, or git may commit "
                   "amlgen's local state and the prepared data")
    for note in report.notes:
        typer.echo(f"  {note}")
    if report.placeholders:
        typer.echo(f"  {len(report.placeholders)} placeholders to fill in: grep -rn 'TODO(amlgen init)' infra/ "
                   "(then `amlgen render --all`)")
    where = "" if report.root == Path.cwd() else f"cd {shlex.quote(str(directory))} && "
    typer.echo(f"Next: {where}amlgen up --env {answers.envs[0]} --target local")


def _ask(question: str, default: str, check) -> str | None:
    """One question on the terminal; Enter keeps ``default`` (returns None); asked again until valid."""
    while True:
        try:
            text = input(f"{question} [{default}]: ").strip()
        except EOFError:
            raise UsageProblem("no answer (end of input): give the values as options, or --no-input") from None
        if not text:
            return None
        why = check(text)
        if why is None:
            return text
        typer.echo(f"  {why}; try again (Enter keeps [{default}])", err=True)


def _ask_missing(answers, *, given_envs: bool):
    """Ask on the terminal for every value the options did not give (Enter: the marked placeholder)."""
    from .. import scaffold
    from ..scaffold import envfile

    envs = answers.envs
    if not given_envs:
        def check_envs(text: str) -> str | None:
            names = [n.strip() for n in text.split(",") if n.strip()]
            if not names:
                return "give at least one environment"
            if len(set(names)) != len(names):
                return "an environment is named twice"
            return next((why for n in names if (why := scaffold.env_problem(n))), None)

        text = _ask("Environments, comma-separated", ", ".join(envs), check_envs)
        envs = [n.strip() for n in text.split(",") if n.strip()] if text else envs
    given = {key: [f"{e}={v}" for e in answers.envs if e in envs and (v := answers.values.get(e, {}).get(key))]
             for key in envfile.WORKSPACE_KEYS}
    fresh = scaffold.Answers(envs=envs)
    if not any(answers.values.get(e, {}).get("subscription_id") for e in envs):
        value = _ask("Azure subscription id (every environment)", scaffold.default_value(fresh, envs[0], "subscription_id")
                     + ", a placeholder", lambda t: envfile.problem("subscription_id", t))
        if value:
            given["subscription_id"] = [f"{e}={value}" for e in envs]
    labels = {"resource_group": "resource group", "name": "workspace name", "location": "Azure region"}
    for e in envs:
        for key, label in labels.items():
            if any(item.startswith(f"{e}=") for item in given[key]):
                continue
            value = _ask(f"{e}: {label}", scaffold.default_value(fresh, e, key) + ", a placeholder",
                         lambda t, k=key: envfile.problem(k, t))
            if value:
                given[key].append(f"{e}={value}")
    return scaffold.answers(envs, subscription=given["subscription_id"], resource_group=given["resource_group"],
                            workspace=given["name"], location=given["location"])


def _show(result, updated: bool) -> None:
    from ..scaffold.upgrade import BOTH, DIFFERS, NEW, TAKE

    width = max((len(f.status) for f in result.files), default=0)
    for f in result.files:
        typer.echo(f"{f.status:<{width}}  {f.path}")
    if not updated:
        for f in result.files:
            if f.diff:
                typer.echo(f.diff, nl=False)
    counts = result.counts()
    typer.echo("scaffold: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) if counts
               else "scaffold: no files")
    if updated:
        typer.echo(f"updated {len(result.updated)} file(s)" + (": " + ", ".join(result.updated) if result.updated else "")
                   + ("; now `amlgen render --all` and review the change" if result.updated else ""))
        left = [f.path for f in result.files if f.status in (BOTH, DIFFERS)]
        if left:
            typer.echo(f"left as they are (edited here; merge from `amlgen init --diff`): {', '.join(left)}")
    elif any(f.status in (TAKE, NEW) for f in result.files):
        typer.echo("`amlgen init --update` takes the 'amlgen changed' and 'new' files; it never touches an edited one")
