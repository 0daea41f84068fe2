"""The offline rules, run on the typed configuration before anything is rendered or written.

Each rule has one home and is only *called* from here: VM sizes in ``catalog`` (known, not retired, GPUs),
allow-lists and model lifecycle in the lock, component inputs in ``finetune``/``catalog``, names in ``names``,
paths in ``paths``. Errors name the ``infra/`` file, line and field the user must change; warnings are kept on
the environment (``Environment.warnings``) and printed by the commands that render.

``validate`` runs the same rules again on committed specs (the gate for hand-edited or stale files).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import find_sku, in_allow_list, load_interface, sku_problem
from .errors import ConfigError
from .finetune import check_user_params
from .names import RULES

if TYPE_CHECKING:
    from .config import Environment


def check_environment(env: Environment, root: Path | None = None) -> None:
    """Raise ConfigError (file:line: field: what is wrong) for the first broken rule; collect warnings."""
    cfg = env.config
    warnings = env.warnings

    # names derived from the configuration
    problem = RULES["endpoint"].problem(env.endpoint_name)
    if problem:
        key = ("endpoint", "name") if cfg.endpoint.name else ("endpoint", "name_prefix")
        raise ConfigError(f"the endpoint name '{env.endpoint_name}' {problem}", where=env.where(*key))

    # VM sizes: known to the catalog, not retired, GPUs where the step needs them, in the model's allow-lists
    tags = cfg.foundation_model.tags
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
        if not in_allow_list(finetune_size, tags.finetune_compute_allow_list):
            raise ConfigError(f"'{finetune_size}' is not in the model's finetune_compute_allow_list "
                              f"({', '.join(tags.finetune_compute_allow_list or [])})", where=env.where(*size_key))
        sku = find_sku(finetune_size)
        gpus = cfg.finetune.get("number_of_gpu_to_use_finetuning")
        if sku is not None and isinstance(gpus, int) and not isinstance(gpus, bool) and gpus > sku.gpus:
            raise ConfigError(f"uses {gpus} GPUs per node but '{sku.name}' has {sku.gpus}",
                              where=env.where("finetune", "number_of_gpu_to_use_finetuning"))

        # fine-tuning inputs against the pinned component's interface
        interface = load_interface(cfg.component.name, cfg.component.version, root)
        check_user_params(cfg.finetune, interface, env.where)

    _size(env, ("deployment", "instance_type"), cfg.deployment.instance_type, need_gpu=False, warnings=warnings)
    if not in_allow_list(cfg.deployment.instance_type, tags.inference_compute_allow_list):
        raise ConfigError(f"'{cfg.deployment.instance_type}' is not in the model's inference_compute_allow_list",
                          where=env.where("deployment", "instance_type"))


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
    if env.trains and not cfg.compute.serverless and cfg.compute.name:
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
