"""Protection: what a command may change without asking, decided by the workspace it will change.

A protected workspace (subscription, resource group, workspace of an environment with ``protected: true``) is
protected whatever command-line route reaches it: through its own environment, through another environment's
name, or through ``--workspace-config``. A config.json that names a different workspace than the environment
is refused: the environment's specs belong to the environment's workspace.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Environment, load_all
from ..errors import AmlgenError, UsageProblem
from ..workspace import Workspace


def check_workspace_matches(env: Environment, ws: Workspace) -> None:
    """The client must point at the environment's own workspace (``--workspace-config`` cannot redirect it)."""
    if ws.workspace_id != env.workspace_id:
        sub, rg, name = ws.workspace_id
        raise UsageProblem(
            f"the workspace config names workspace '{name}' (resource group {rg}, subscription {sub}), but "
            f"environment '{env.name}' manages '{env.config.workspace.name}' (resource group "
            f"{env.config.workspace.resource_group}); its specs are not applied anywhere else"
        )


def protecting_environments(root: Path, workspace_id: tuple[str, str, str]) -> list[str]:
    """The protected environments whose workspace this is."""
    return [e.name for e in load_all(root) if e.config.environment.protected and e.workspace_id == workspace_id]


def confirm(question: str, *, yes: bool, what: str, ask: Callable[[str], bool] | None = None) -> None:
    """Go on with --yes, or after an interactive 'yes'; refuse without a terminal."""
    if yes:
        return
    if ask is None:
        if not (sys.stdin and sys.stdin.isatty()):
            raise UsageProblem(f"{what}: pass --yes to confirm (no terminal to ask on)")
        import typer

        ask = lambda q: typer.confirm(q, default=False)  # noqa: E731
    if not ask(question):
        raise AmlgenError(f"{what}: not confirmed; nothing was changed")


def guard(root: Path, env: Environment, ws: Workspace, *, action: str, yes: bool,
          ask: Callable[[str], bool] | None = None, always_ask: bool = False) -> None:
    """Refuse a write to a workspace that is not the environment's; ask before writing a protected one."""
    check_workspace_matches(env, ws)
    protectors = protecting_environments(root, ws.workspace_id)
    if protectors or always_ask:
        who = f"protected (environment{'s' if len(protectors) > 1 else ''} {', '.join(protectors)})" if protectors \
            else "about to be changed"
        confirm(f"Workspace {ws.label} is {who}. {action}?", yes=yes, what=f"workspace {ws.label} is {who}", ask=ask)


def retired_finetune(env: Environment, ws: Workspace, resources: list, *, allow: bool, reporter: Any = None) -> None:
    """No GPU cluster starts a fine-tune the registry says is retired, on Azure, without ``--allow-retired``.

    Against the emulator (rehearsal) it is a warning. A job that already ran starts nothing and is not refused.
    """
    import datetime as dt

    model = env.model
    if model is None or not env.trains:
        return
    state, date = model.lifecycle.status("finetune", dt.date.today())
    if state != "retired":
        return
    new_jobs = [r for r in resources if r.kind.run_once and ws.get(r.ref) is None]
    if not new_jobs:
        return
    what = (f"the registry reports fine-tuning of {model.name} {model.version} retired on {date} ({model.where}); "
            f"job {new_jobs[0].name} would start a GPU cluster for it")
    if ws.target.is_local or allow:
        if reporter is not None:
            reporter.line(f"warning: {what}" + ("" if ws.target.is_local else " (allowed by --allow-retired)"))
        return
    raise AmlgenError(f"{what}; pick a current model (amlgen validate lists them) or pass --allow-retired")
