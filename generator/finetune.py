"""The fine-tuning inputs of the pipeline component: which amlgen sets itself, and their effective values.

The notebook applies the foundation model's ``model_specific_defaults`` tag **over** its own parameters; amlgen
does the same, visibly: ``effective_params`` returns the values the job will use and every change the model's
defaults made (from -> to), converted to the types the component interface declares (the registry publishes
``deepspeed_stage: 2``; the component wants the string ``"2"``). A value the user wants to keep against the
model's default is listed in ``finetune_keep`` in ``infra/`` -- an explicit, reviewed setting, never silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import ComponentInput, ComponentInterface
from .errors import ConfigError

# Inputs of the pipeline component that amlgen sets itself (from compute, data and model settings).
MANAGED_INPUTS = {
    "mlflow_model_path": "foundation_model",
    "pytorch_model_path": "foundation_model",
    "huggingface_id": "foundation_model",
    "train_file_path": "data.train_split",
    "validation_file_path": "data.validation_split",
    "test_file_path": "data.test_split",
    "train_mltable_path": "data",
    "validation_mltable_path": "data",
    "test_mltable_path": "data",
    "compute_model_import": "compute",
    "compute_preprocess": "compute",
    "compute_finetune": "compute",
    "compute_model_evaluation": "compute",
    "instance_type_model_import": "compute.instance_types",
    "instance_type_preprocess": "compute.instance_types",
    "instance_type_finetune": "compute.instance_types",
    "instance_type_model_evaluation": "compute.instance_types",
}
STEPS = ("model_import", "preprocess", "finetune", "model_evaluation")
# Keys of model_specific_defaults that are not component inputs but hints for UIs (the notebook skips them too).
NOT_INPUTS_SUFFIXES = ("_min", "_max")


@dataclass(frozen=True)
class Change:
    """One parameter the model's defaults changed: shown by render, recorded for review."""

    name: str
    before: Any
    after: Any
    where: str


def convert(spec: ComponentInput, value: Any) -> Any:
    """A registry tag value converted to the input's declared type (``2`` -> ``"2"``, ``"5e-6"`` -> ``5e-06``).

    Raises ValueError when the value cannot mean that type.
    """
    kind = spec.type
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return str(value)
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        raise ValueError(f"{value!r} is not an integer")
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            number = float(value.strip())
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError(f"{value!r} is not a finite number")
            return number
        raise ValueError(f"{value!r} is not a number")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"{value!r} is not a boolean")
    return value


def check_user_params(params: Mapping[str, Any], interface: ComponentInterface, where: Any) -> None:
    """Every ``finetune:`` key is a component input amlgen does not manage, with a value of the declared type."""
    for name, value in params.items():
        if name in MANAGED_INPUTS:
            raise ConfigError(f"'{name}' is set by amlgen from {MANAGED_INPUTS[name]}; remove it here",
                              where=where("finetune", name))
        if name not in interface.inputs:
            raise ConfigError(interface.unknown_input_message(name), where=where("finetune", name))
        problem = interface.inputs[name].check(value)
        if problem:
            raise ConfigError(problem, where=where("finetune", name))


def effective_params(user: Mapping[str, Any], model_defaults: Mapping[str, Any] | None, keep: list[str],
                     interface: ComponentInterface, *, defaults_where: str,
                     where: Any) -> tuple[dict[str, Any], list[Change]]:
    """(the job's fine-tuning inputs, the changes the model's defaults made).

    ``user``: the environment's ``finetune:`` values (already checked); ``model_defaults``: the locked
    ``model_specific_defaults`` tag, verbatim; ``keep``: inputs whose user value wins (``finetune_keep``).
    """
    params = dict(user)
    changes: list[Change] = []
    for name in keep:
        if name not in params:
            raise ConfigError(f"'{name}' is kept against the model's defaults but has no value in finetune:",
                              where=where("finetune_keep"))
    for name, raw in (model_defaults or {}).items():
        if name not in interface.inputs:
            if name.endswith(NOT_INPUTS_SUFFIXES) and name.rsplit("_", 1)[0] in interface.inputs:
                continue  # learning_rate_min/max: bounds for a UI, not inputs
            raise ConfigError(f"model_specific_defaults names '{name}', which is not an input of {interface.name} "
                              f"{interface.version}; pin a component version that has it", where=defaults_where)
        spec = interface.inputs[name]
        try:
            value = convert(spec, raw)
        except ValueError as exc:
            raise ConfigError(f"model_specific_defaults.{name}: {exc} (the component expects a {spec.type})",
                              where=defaults_where) from None
        problem = spec.check(value)
        if problem:
            raise ConfigError(f"model_specific_defaults.{name}: {problem}", where=defaults_where)
        if name in keep:
            continue
        before = params[name] if name in params else spec.default  # what the job would use without the model's defaults
        if before != value or type(before) is not type(value):
            changes.append(Change(name, before, value, where("finetune", name) if name in user else ""))
        params[name] = value
    return params, changes
