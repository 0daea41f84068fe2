"""The offline rules, run on the typed configuration before anything is rendered or written.

Each rule has one home and is only *called* from here: VM sizes in ``catalog`` (known, not retired, GPUs),
allow-lists and model lifecycle in the lock, component inputs in ``finetune``/``catalog``, names in ``names``,
paths in ``paths``. Errors name the ``infra/`` file, line and field the user must change; warnings are kept on
the environment (``Environment.warnings``) and printed by the commands that render.

``validate`` runs the same rules again on committed specs (the gate for hand-edited or stale files).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import find_sku, in_allow_list, interface_path, load_interface, read_interface, sku_problem
from .errors import ConfigError
from .finetune import check_user_params
from .lock import LOCK_FILE, LockedModel, interface_digest, requested
from .lock import load as _load_lock
from .names import RULES, tag_problem
from .paths import resolved_problem

if TYPE_CHECKING:
    from .environment import Environment


def check_environment(env: Environment, root: Path | None = None, today: dt.date | None = None) -> None:
    """Raise ConfigError (file:line: field: what is wrong) for the first broken rule; collect warnings."""
    cfg = env.config
    warnings = env.warnings

    # names derived from the configuration
    problem = RULES["endpoint"].problem(env.endpoint_name)
    if problem:
        key = ("endpoint", "name") if cfg.endpoint.name else ("endpoint", "name_prefix")
        raise ConfigError(f"the endpoint name '{env.endpoint_name}' {problem}", where=env.where(*key))

    _role(env)

    # tags: Azure's tag rules (every tags map of the configuration)
    for name, value in cfg.tags.items():
        problem = tag_problem(name, value)
        if problem:
            raise ConfigError(problem, where=env.where("tags", name))

    # the registry's facts about the foundation model and the component: from the lock, never typed
    model = env.model = locked_model(env, root)
    if env.trains:
        locked_component(env, root)
    warnings.extend(lifecycle_warnings(env, model, today or dt.date.today()))

    # the data folder: inside the project (symlinks followed), not a folder amlgen or git owns
    if env.trains and root is not None:
        problem = resolved_problem(root, cfg.data.resolved_output_dir)
        if problem:
            raise ConfigError(problem, where=env.where("data", "output_dir"))

    # VM sizes: known to the catalog, not retired, GPUs where the step needs them, the model's allow-lists
    if env.trains:
        if cfg.compute.serverless:
            it = cfg.compute.instance_types
            assert it is not None
            for step in ("model_import", "preprocess", "finetune", "model_evaluation"):
                size = getattr(it, step)
                if size is None:
                    continue
                _size(env, ("compute", "instance_types", step), size, need_gpu=step in ("finetune", "model_evaluation"),
                      warnings=warnings)
        else:
            _size(env, ("compute", "size"), cfg.compute.size or "", need_gpu=True, warnings=warnings)
        size_key = ("compute", "instance_types", "finetune") if cfg.compute.serverless else ("compute", "size")
        finetune_size = cfg.compute.finetune_size
        _allowed(env, model, "finetune", finetune_size, size_key, cfg.compute.allow_list_exception)
        sku = find_sku(finetune_size)
        gpus = cfg.finetune.get("number_of_gpu_to_use_finetuning")
        if sku is not None and isinstance(gpus, int) and not isinstance(gpus, bool) and gpus > sku.gpus:
            raise ConfigError(f"uses {gpus} GPUs per node but '{sku.name}' has {sku.gpus}",
                              where=env.where("finetune", "number_of_gpu_to_use_finetuning"))

        # fine-tuning inputs against the pinned component's interface
        interface = load_interface(cfg.component.name, env.component_version, root)
        check_user_params(cfg.finetune, interface, env.where)

    _size(env, ("deployment", "instance_type"), cfg.deployment.instance_type, need_gpu=False, warnings=warnings)
    _allowed(env, model, "inference", cfg.deployment.instance_type, ("deployment", "instance_type"),
             cfg.deployment.allow_list_exception)


# --------------------------------------------------------------------------- the lock's facts
def locked_model(env: Environment, root: Path | None) -> LockedModel:
    fm = env.config.foundation_model
    lock = env.lock = _load_lock(root) if root is not None else None
    how = requested(fm)
    model = lock.model(fm.registry, fm.name, how) if lock else None
    if model is None and lock is not None:  # a model the lock already knows as an alternative (same version)
        model = next((m for m in lock.alternatives if (m.registry, m.name) == (fm.registry, fm.name)
                      and (m.version == fm.version or m.requested == how)), None)
    if model is None:
        what = f"label {fm.label}" if fm.label else f"version {fm.version}"
        raise ConfigError(f"{LOCK_FILE} does not pin {fm.registry}/{fm.name} ({what}); run `amlgen lock` and commit "
                          "the lock with this change", where=env.where("foundation_model"))
    return model


def locked_component(env: Environment, root: Path | None) -> None:
    comp = env.config.component
    lock = env.lock
    entry = lock.component(comp.registry, comp.name, requested(comp)) if lock else None
    if entry is None:
        raise ConfigError(f"{LOCK_FILE} does not pin {comp.registry}/{comp.name} {requested(comp)}; run `amlgen lock` "
                          "and commit the lock with this change", where=env.where("component"))
    env.component_version = entry.version
    path = interface_path(comp.name, entry.version, root)
    if not path.is_file():
        raise ConfigError(f"no interface for component {comp.name} {entry.version} in the catalog; add it with "
                          "`amlgen catalog import-component SPEC`", where=env.where("component"))
    digest = interface_digest(read_interface(path))
    if digest != entry.interface_sha256:
        raise ConfigError(f"the catalog's interface of {comp.name} {entry.version} is not the one locked "
                          f"({entry.where}); run `amlgen lock` after reviewing `amlgen catalog diff`",
                          where=env.where("component"))


def _allowed(env: Environment, model: LockedModel, use: str, size: str, key: tuple[str, ...], exception: str | None) -> None:
    allow = model.allow_list(use)
    if allow is not None and not in_allow_list(size, allow):
        if exception:
            env.warnings.append(f"{env.where(*key)}: '{size}' is outside {model.name} {model.version}'s "
                                f"{use}_compute_allow_list; allowed by exception: {exception}")
        else:
            raise ConfigError(f"'{size}' is not in {model.name} {model.version}'s {use}_compute_allow_list "
                              f"({', '.join(allow)}; {model.where}); pick one of those sizes, or give "
                              f"{key[0]}.allow_list_exception with the reason", where=env.where(*key))
    spec = model.min_sku.get(use)
    sku = find_sku(size)
    if spec and sku is not None:
        problem = min_sku_problem(sku, spec)
        if problem:
            raise ConfigError(f"'{sku.name}' is below {model.name} {model.version}'s minimum {use} SKU ({problem})",
                              where=env.where(*key))


def min_sku_problem(sku, spec: str) -> str | None:
    """The registry's ``cores|GPUs|memory GB|disk GB`` minimum against the catalog's size, or None when it fits."""
    parts = spec.split("|")
    try:
        cores, gpus, memory = int(parts[0]), int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return None  # a spec we cannot read is not a reason to refuse
    short = [f"{what} {have:g} < {need:g}" for what, have, need in
             (("vCPUs", sku.vcpus, cores), ("GPUs", sku.gpus, gpus), ("memory GB", sku.memory_gb, memory)) if have < need]
    return ", ".join(short) or None


def lifecycle_warnings(env: Environment, model: LockedModel, today: dt.date) -> list[str]:
    """What the registry's lifecycle says about using the model here (warnings; apply decides what it refuses)."""
    out = []
    where = env.where("foundation_model")
    life = model.lifecycle
    uses = ("finetune", "inference") if env.trains else ("inference",)
    notes = []
    for use in uses:
        state, date = life.status(use, today)
        if state != "current":
            notes.append(f"{'fine-tuning' if use == 'finetune' else 'inference'} {state} on {date}")
    if life.archived:
        notes.insert(0, "archived")
    if notes:
        suggestions = [f"{m.name} {m.version}" for m in current_alternatives(model, env, today)]
        out.append(f"{where}: {model.name} {model.version} in registry {model.registry}: {', '.join(notes)} "
                   f"(as the registry reports, {model.where})"
                   + (f"; current {model.task or 'same-task'} models: {', '.join(suggestions)}" if suggestions else ""))
    return out


def current_alternatives(model: LockedModel, env: Environment, today: dt.date) -> list[LockedModel]:
    """The lock's other models of the same task that are neither archived nor retired for fine-tuning."""
    alternatives = env.lock.alternatives if env.lock else []
    return [m for m in alternatives if m.name != model.name and not m.lifecycle.archived
            and m.lifecycle.status("finetune", today)[0] != "retired" and (not model.task or m.task == model.task)]


def _role(env: Environment) -> None:
    """A training environment has a compute and no promoted model; a deploying one names its source."""
    cfg = env.config
    role_where = env.where("environment", "role")
    if env.trains:
        if cfg.compute is None:
            raise ConfigError("a training environment needs a compute: section (or role: deploy)", where=role_where)
        for key in ("promotion", "promoted"):
            if getattr(cfg, key) is not None:
                raise ConfigError(f"{key}: belongs to an environment that deploys promoted models (role: deploy); "
                                  "this one trains", where=env.where(key))
        return
    if cfg.promotion is None:
        raise ConfigError("an environment that deploys (role: deploy) needs promotion.source: the training "
                          "environment its models come from", where=role_where)
    if cfg.promoted is not None and cfg.promoted.source_env != cfg.promotion.source:
        raise ConfigError(f"the promoted model came from '{cfg.promoted.source_env}', not from promotion.source "
                          f"'{cfg.promotion.source}'; run `amlgen promote --from {cfg.promotion.source} --to {env.name}`",
                          where=env.where("promoted", "source_env"))
    own = env.raw_own if hasattr(env, "raw_own") else {}
    for key in ("compute", "data", "finetune", "pipeline", "model"):
        if key in own:
            env.warnings.append(f"{env.where(key)}: ignored: an environment that deploys promoted models does not "
                                "train")
    if cfg.promoted is None:
        env.warnings.append(f"{env.where('promotion')}: nothing promoted yet: only the endpoint is rendered; run "
                            f"`amlgen promote --from {cfg.promotion.source} --to {env.name}`")


def _size(env: Environment, key: tuple[str, ...], size: str, *, need_gpu: bool, warnings: list[str]) -> None:
    problem = sku_problem(size, need_gpu=need_gpu)
    if problem:
        raise ConfigError(problem, where=env.where(*key))
    sku = find_sku(size)
    if sku is not None and sku.status == "retiring":
        warnings.append(f"{env.where(*key)}: '{sku.name}' is being retired: {sku.note}")


# --------------------------------------------------------------------------- across environments
def managed_resources(env: Environment) -> dict[tuple[str, ...], tuple[str, ...]]:
    """What an environment manages in Azure: resource identity -> the config key that names it."""
    cfg = env.config
    ws = env.workspace_id
    out: dict[tuple[str, ...], tuple[str, ...]] = {
        # endpoint names are global per region (the scoring host is <name>.<region>.inference.ml.azure.com)
        ("online endpoint", cfg.workspace.location, env.endpoint_name.lower()):
            ("endpoint", "name") if cfg.endpoint.name else ("endpoint", "name_prefix"),
    }
    if env.trains and cfg.compute is not None and not cfg.compute.serverless and cfg.compute.name:
        out[("compute", *ws, cfg.compute.name.lower())] = ("compute", "name")
    return out


def check_across(envs: list[Environment]) -> None:
    """Two environments that would manage the same Azure resource are refused, naming both files."""
    owners: dict[tuple[str, ...], tuple[Environment, tuple[str, ...]]] = {}
    for env in envs:
        for resource, key in managed_resources(env).items():
            if resource in owners:
                other, other_key = owners[resource]
                what = f"{resource[0]} '{resource[-1]}'"
                where_ = "in region " + resource[1] if resource[0] == "online endpoint" else f"in workspace {resource[3]}"
                raise ConfigError(
                    f"environments '{other.name}' ({other.file}, {'.'.join(other_key)}) and '{env.name}' "
                    f"({env.file}, {'.'.join(key)}) would both manage {what} {where_}; give each environment its own",
                    where=env.where(*key),
                )
            owners[resource] = (env, key)
