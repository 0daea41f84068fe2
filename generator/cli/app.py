"""The `amlgen` Typer application: the root (``cli/root.py``) with every command module registered, and the click
command that runs one command line."""

from __future__ import annotations

import sys
from typing import Any

from . import data, gitops, infra, init, project, runs, workspace  # noqa: F401  (commands register themselves)
from .root import app

app.add_typer(data.app, name="data")
app.add_typer(infra.app, name="infra")
app.add_typer(project.catalog_app, name="catalog")
app.add_typer(gitops.github_app, name="github")


def command(argv: list[str] | None = None) -> Any:
    """The click command that runs ``argv`` (default: ``sys.argv[1:]``).

    Typer builds every command's parameters (annotations, type adapters) when it builds the group: a tenth of a
    ``render --check``. A command line that starts with a command's name gets a group holding that command only:
    the same root (callback, options, settings), the same command, so the same parsing, help and errors. Anything
    else (no command, a root option first, an unknown name) gets the whole group, with its listing and suggestions.
    """
    import copy

    from typer.main import get_command, get_command_name

    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else ""
    if name and not name.startswith("-"):
        one = copy.copy(app)
        for info in app.registered_commands:
            if (info.name or get_command_name(info.callback.__name__)) == name:  # type: ignore[union-attr]
                one.registered_commands, one.registered_groups = [info], []
                return get_command(one)
        for group in app.registered_groups:
            if group.name == name:
                one.registered_commands, one.registered_groups = [], [group]
                return get_command(one)
    return get_command(app)
