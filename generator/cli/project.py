"""Commands on the project's files: ``render``, ``validate`` and ``catalog``."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_INVALID, AmlgenError, UsageProblem
from .options import AllOpt, BackoffOpt, EnvsOpt, ProjectOpt, RetryOpt, TargetOpt, envs, root
from .root import app


@app.command()
def render(
    env: EnvsOpt = None,
    all_: AllOpt = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; fail with a diff if committed files are stale.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Render specs/<env>/ (and infra parameters) from infra/ and templates/."""
    from .. import api

    where = root(project)
    try:
        outcome = api.render(where, envs(env, all_), check=check)
    except AmlgenError as exc:
        diff = getattr(exc, "diff", None)
        if diff:
            typer.echo(diff, nl=False)
        raise
    for line in outcome.warnings:
        typer.echo(f"warning: {line}", err=True)
    names = ", ".join(r.env for r in outcome.results)
    if check:
        typer.echo(f"ok: {len(outcome.files)} generated files are current ({names})")
        return
    report = outcome.report
    assert report is not None
    for rel in report.written:
        typer.echo(f"wrote   {rel}")
    for rel in report.removed:
        typer.echo(f"removed {rel}")
    if not report.changed:
        typer.echo(f"unchanged: {len(report.unchanged)} files ({names})")


@app.command()
def validate(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Spec files to validate (default: --env/--all).")] = None,
    env: EnvsOpt = None,
    all_: AllOpt = False,
    project: ProjectOpt = None,
) -> None:
    """Load every spec with azure-ai-ml and run the checks the SDK cannot do offline."""
    from .. import api

    where = root(project)
    if files and (env or all_):
        raise UsageProblem("give spec files or --env/--all, not both")
    report = api.validate(where, None if files else envs(env, all_), files=[str(f) for f in files] if files else None)
    for problem in report.warnings:
        typer.echo(f"warning: {problem}", err=True)
    for problem in report.errors:
        typer.echo(f"error: {problem}", err=True)
    if report.errors:
        typer.echo(f"invalid: {len(report.errors)} problem(s) in {len(report.files)} spec(s)", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"ok: {len(report.files)} specs valid")


catalog_app = typer.Typer(help="Pinned component interfaces and the VM SKU catalog.", no_args_is_help=True)


@catalog_app.command("import-component")
def import_component(
    spec: Annotated[Path, typer.Argument(help="A published component spec.yaml (e.g. from Azure/azureml-assets).")],
    source: Annotated[Optional[str], typer.Option(help="Where the spec came from, recorded in the interface file.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Derive a component interface from its spec into the project's infra/catalog/components/."""
    from ..catalog import import_component as run

    path = run(root(project), spec, source)
    typer.echo(f"wrote {path}")


@catalog_app.command("diff")
def diff_component(
    name: Annotated[str, typer.Argument(help="Component name, e.g. chat_completion_pipeline.")],
    old: Annotated[str, typer.Argument(help="Pinned version now.")],
    new: Annotated[str, typer.Argument(help="Version to move to.")],
    project: ProjectOpt = None,
) -> None:
    """Show how a component's interface changes between two catalogued versions (review before bumping)."""
    from ..catalog import interface_diff

    lines = interface_diff(name, old, new, root(project))
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo(f"no interface changes between {old} and {new}")


@catalog_app.command("skus")
def list_skus() -> None:
    """List the VM sizes amlgen knows, with GPUs per node and status."""
    from ..catalog import sku_catalog

    for sku in sorted(sku_catalog().values(), key=lambda s: (s.status, s.gpus, s.name)):
        typer.echo(f"{sku.name:28} gpus={sku.gpus} {sku.gpu or '':16} {sku.status}")


@app.command()
def lock(
    upgrade: Annotated[bool, typer.Option("--upgrade", help="Move labels (such as latest) to their newest versions.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; fail if the lock is not what the registry resolves now.")] = False,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Pin the registry's facts about the foundation model and the component in infra/lock.yml."""
    from .. import api
    from ..lock import LOCK_FILE
    from .options import connect_options

    where = root(project)
    with _lock_target(where, target) as tgt:
        outcome = api.lock(where, target=tgt, upgrade=upgrade, check=check,
                           **connect_options(retry_total, retry_backoff_factor))
    for line in outcome.moves:
        typer.echo(line)
    if check:
        typer.echo(f"ok: {LOCK_FILE} is current")
    else:
        typer.echo(f"{'wrote' if outcome.written else 'unchanged:'} {LOCK_FILE}")


@contextmanager
def _lock_target(where: Path, target: str):
    """``--target local`` without a running ``amlgen emulator``: an in-process one (the registry is static)."""
    from .. import api
    from ..emulator.target import LocalTarget, read_state

    if target != "local" or read_state(where) is not None:
        yield api.target(where, target)
        return
    from ..emulator import Emulator

    with Emulator() as emu:
        yield LocalTarget(emu.base_url, emu.ca_path)
