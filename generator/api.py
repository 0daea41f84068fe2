"""amlgen's public library API: the one facade. The CLI is a thin layer over these functions.

    from generator import api
    root = api.project_root()
    api.render(root, ["dev"])                       # write specs/dev/ (checked, atomic; unchanged files untouched)
    api.render(root, None, check=True)              # raise CheckFailed (with .diff) if committed files are stale
    report = api.validate(root, ["dev"])            # the gate for committed specs: SDK load_* + offline checks
    target = api.target(root, "local")              # or "azure" (DefaultAzureCredential)
    plan = api.plan(root, "dev", target=target)     # read-only
    result = api.apply(root, "dev", target=target, yes=True)
    api.invoke(root, "dev", target=target); api.destroy(root, "dev", target=target, yes=True)
    api.up(root, "dev")                             # the whole workflow on an in-process emulator

Data flows one way: ``infra/`` -> typed config with every offline rule (``config``/``checks``) -> render (pure)
-> output checked (YAML, SDK schema) -> written (``writer``, the only writer of specs) -> validate -> plan ->
apply (``engine``, through ``workspace``: the only module that talks to Azure). Rendering and ``--check``
never import azure.ai.ml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import load_all  # noqa: F401  (every environment of a project: api.load_all(root))
from .project import (  # noqa: F401  (the facade re-exports them)
    AZURE_POLL,
    LOCAL_POLL,
    RenderOutcome,
    Session,
    apply,
    changed,
    data_info,
    default_request,
    destroy,
    environment,
    expected_specs,
    invoke,
    load_templates,
    lock,
    logs,
    metrics,
    pipeline_job_name,
    plan,
    project_root,
    reap,
    refresh_prices,
    render,
    render_files,
    rollback,
    sample_request,
    select_envs,
    session,
    spec_folder,
    target,
    validate,
)


# --------------------------------------------------------------------------- workflows built on the operations
def up(root: Path, env: str = "dev", **kwargs: Any):
    from .flows.up import up as run

    return run(root, env, **kwargs)


def promote(root: Path, source: str, to: str, *, target: Any, dry_run: bool = False,  # noqa: F811  (a parameter)
            reporter: Any = None, **connect: Any):
    """Check, gate, share and record a trained model for a deploying environment (never applies it)."""
    from .flows.promote import promote_project

    return promote_project(root, source, to, target=target, dry_run=dry_run, reporter=reporter, **connect)


def init(path: str | Path, answers: Any = None, *, existing: bool = False):
    """Start a project at ``path`` from the installed amlgen's scaffold, whole or not at all. ``answers`` is a
    ``scaffold.Answers`` (``scaffold.answers(envs, subscription=..., workspace=...)``); None: dev and prod with
    marked placeholders. Returns a ``scaffold.create.InitReport``."""
    from .scaffold import Answers
    from .scaffold.create import create

    return create(Path(path), answers if answers is not None else Answers(), existing=existing)


def init_diff(root: Path):
    """How the installed amlgen's scaffold differs from the project's files, file by file (writes nothing).
    Returns a ``scaffold.upgrade.ScaffoldDiff``."""
    from .scaffold.upgrade import diff

    return diff(root)


def init_update(root: Path):
    """Take the installed amlgen's version of every scaffold file the project has not edited (and new ones);
    never touches an edited file. Returns the ``ScaffoldDiff`` it acted on."""
    from .scaffold.upgrade import update

    return update(root)
