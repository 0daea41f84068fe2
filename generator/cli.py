"""The `amlgen` command: a thin layer over generator.api.

Known errors (AmlgenError) print one line, ``error: <file:line: field: message>``, and exit non-zero; only an
unexpected exception prints a traceback (exit 3).
"""

from __future__ import annotations

import gc
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from . import __version__
from .data.cli import app as data_app
from .engine.cli import register as register_engine
from .errors import EXIT_INVALID, EXIT_OK, EXIT_TOOL_FAILURE, EXIT_USAGE, AmlgenError, UsageProblem
from .iac_cli import infra_app

app = typer.Typer(
    name="amlgen",
    help="Azure ML fine-tuning workflow as reviewable infrastructure-as-code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
catalog_app = typer.Typer(help="Pinned component interfaces and the VM SKU catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(data_app, name="data")
app.add_typer(infra_app, name="infra")
register_engine(app)  # plan, apply, invoke, destroy, up, emulator

ProjectOpt = Annotated[
    Optional[Path], typer.Option("--project", "-C", help="Project directory (default: found from the current directory).")
]
EnvOpt = Annotated[Optional[list[str]], typer.Option("--env", "-e", help="Environment name (repeatable).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every environment in infra/environments/.")]


def _root(project: Path | None) -> Path:
    from .api import project_root

    return project_root(project)


def _envs(env: list[str] | None, all_: bool) -> list[str] | None:
    if env and all_:
        raise UsageProblem("give --env or --all, not both")
    if not env and not all_:
        raise UsageProblem("give --env NAME or --all")
    return None if all_ else env


def echo_err(text: str) -> None:
    typer.echo(text, err=True)


def _is(exc: BaseException, name: str) -> bool:
    """Match click's exception classes by name: typer vendors its own copy of click."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False) -> None:
    if version:
        typer.echo(f"amlgen {__version__}")
        raise typer.Exit(0)


@app.command()
def render(
    env: EnvOpt = None,
    all_: AllOpt = False,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; fail with a diff if committed files are stale.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Render specs/<env>/ (and infra parameters) from infra/ and templates/."""
    from . import api

    root = _root(project)
    try:
        outcome = api.render(root, _envs(env, all_), check=check)
    except AmlgenError as exc:
        diff = getattr(exc, "diff", None)
        if diff:
            typer.echo(diff, nl=False)
        raise
    for line in outcome.warnings:
        echo_err(f"warning: {line}")
    if check:
        typer.echo(f"ok: {len(outcome.files)} generated files are current ({', '.join(r.env for r in outcome.results)})")
        return
    report = outcome.report
    assert report is not None
    for rel in report.written:
        typer.echo(f"wrote   {rel}")
    for rel in report.removed:
        typer.echo(f"removed {rel}")
    if not report.changed:
        typer.echo(f"unchanged: {len(report.unchanged)} files ({', '.join(r.env for r in outcome.results)})")


@app.command()
def validate(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Spec files to validate (default: --env/--all).")] = None,
    env: EnvOpt = None,
    all_: AllOpt = False,
    project: ProjectOpt = None,
) -> None:
    """Load every spec with azure-ai-ml and run the checks the SDK cannot do offline."""
    from . import api

    root = _root(project)
    if files and (env or all_):
        raise UsageProblem("give spec files or --env/--all, not both")
    envs = None if files else _envs(env, all_)
    report = api.validate(root, envs=envs, files=[str(f) for f in files] if files else None)
    for problem in report.warnings:
        echo_err(f"warning: {problem}")
    for problem in report.errors:
        echo_err(f"error: {problem}")
    if report.errors:
        echo_err(f"invalid: {len(report.errors)} problem(s) in {len(report.files)} spec(s)")
        raise typer.Exit(EXIT_INVALID)
    typer.echo(f"ok: {len(report.files)} specs valid")


@catalog_app.command("import-component")
def import_component(
    spec: Annotated[Path, typer.Argument(help="A published component spec.yaml (e.g. from Azure/azureml-assets).")],
    source: Annotated[Optional[str], typer.Option(help="Where the spec came from, recorded in the interface file.")] = None,
) -> None:
    """Derive a component interface from its spec and store it in the catalog."""
    import yaml

    from .catalog import derive_interface, interface_path
    from .yamlutil import load_with_origins

    data, _ = load_with_origins(spec)
    interface = derive_interface(data, source or str(spec))
    path = interface_path(interface["name"], interface["version"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Derived by 'amlgen catalog import-component' from the published component spec; do not edit.\n"
    text += yaml.safe_dump(interface, sort_keys=False, width=120)
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path} ({len(interface['inputs'])} inputs, {len(interface['outputs'])} outputs)")


@catalog_app.command("diff")
def diff_component(
    name: Annotated[str, typer.Argument(help="Component name, e.g. chat_completion_pipeline.")],
    old: Annotated[str, typer.Argument(help="Pinned version now.")],
    new: Annotated[str, typer.Argument(help="Version to move to.")],
) -> None:
    """Show how a component's interface changes between two catalogued versions (review before bumping)."""
    from .catalog import interface_diff

    lines = interface_diff(name, old, new)
    for line in lines:
        typer.echo(line)
    if not lines:
        typer.echo(f"no interface changes between {old} and {new}")


@catalog_app.command("skus")
def list_skus() -> None:
    """List the VM sizes amlgen knows, with GPUs per node and status."""
    from .catalog import sku_catalog

    for sku in sorted(sku_catalog().values(), key=lambda s: (s.status, s.gpus, s.name)):
        typer.echo(f"{sku.name:28} gpus={sku.gpus} {sku.gpu or '':16} {sku.status}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: map errors to one-line messages and exit codes."""
    seen: list[int] = []  # Ctrl-C's during the command (see _record_sigint)
    restore = _record_sigint(seen)
    try:
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="amlgen", standalone_mode=False)
        if result == 130 and seen:  # typer turns a KeyboardInterrupt into this return value, silently
            echo_err("interrupted")
        return int(result) if isinstance(result, int) else EXIT_OK
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        echo_err("aborted")
        return 130
    except AmlgenError as exc:
        if seen:  # the interrupt was swallowed on its way and surfaced as an error of its own: report the interrupt
            echo_err("interrupted")
            return 130
        echo_err(f"error: {exc.one_line()}")
        return exc.exit_code
    except KeyboardInterrupt:
        echo_err("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if _is(exc, "NoArgsIsHelpError"):
            exc.show()  # type: ignore[attr-defined]
            return EXIT_OK
        if _is(exc, "UsageError"):
            exc.show()  # type: ignore[attr-defined]
            return EXIT_USAGE
        if _is(exc, "ClickException"):
            exc.show()  # type: ignore[attr-defined]
            return EXIT_INVALID
        if _is(exc, "Exit"):
            return int(getattr(exc, "exit_code", 0))
        if seen:  # as above: e.g. pydantic-core's SchemaError for a validator the interrupt broke
            echo_err("interrupted")
            return 130
        traceback.print_exc()
        echo_err("amlgen: unexpected error (a bug); the traceback is above")
        return EXIT_TOOL_FAILURE
    finally:
        restore()


def _record_sigint(seen: list[int]) -> Callable[[], None]:
    """While a command runs, Ctrl-C still raises KeyboardInterrupt and is also noted in ``seen``: a library that
    swallows the exception (pydantic-core does, while it builds a validator: Python reports it as "Exception
    ignored", which is dropped here) then fails with a bogus error of its own (a config "invalid value"), which
    ``main`` reports as the interruption it is. Returns the restorer."""
    import signal
    import threading

    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is not signal.default_int_handler:
        return lambda: None
    hook = sys.unraisablehook

    def on_sigint(signum: int, frame: object) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:
        if not (info.exc_type is KeyboardInterrupt and seen):
            hook(info)

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = hook

    signal.signal(signal.SIGINT, on_sigint)
    sys.unraisablehook = unraisable
    return restore


def run() -> None:  # pragma: no cover - console script
    code = main()
    # Objects still alive are moved out of the collector's reach: shutdown then skips collecting everything
    # polars, pyarrow and pydantic built (0.15 s at the end of a 5 % data prepare, an eighth of it).
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
