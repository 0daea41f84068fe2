"""The workspace engine: plan and apply rendered specs through azure-ai-ml (see ``generator.workspace``).

Public API::

    from generator.engine import core
    ws = core.open_workspace(env, core.resolve_target(root, "local"))   # or "azure" (+ workspace_config)
    plan = core.plan(ws, env, specs_dir, root)          # Plan: items (create/update/no change/already ran)
    format_plan(plan, "text" | "json" | "markdown")
    result = core.apply(ws, env, specs_dir, yes=True)   # ApplyResult: steps, errors (idempotent, resumable)
    core.invoke(ws, env, specs_dir, root, request=None) # the scoring response (str)
    core.destroy(ws, env, specs_dir, include_compute=False, yes=True)
    core.up(root, "dev")                                # in-process emulator: the whole workflow

CLI: ``generator.engine.cli.register(app)`` adds plan, apply, invoke, destroy, up and emulator.
"""

from .plan import Plan, PlanItem, format_plan  # noqa: F401
