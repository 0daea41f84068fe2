"""Pure rendering: (environment, template texts, data manifest) -> {project-relative path: spec text}.

Nothing here reads or writes files or talks to Azure; the caller passes template sources in. Jinja runs
with StrictUndefined and ``[[ ]]`` / ``[% %]`` delimiters, so Azure ML's ``${{parent.inputs.x}}`` passes
through untouched. Every value goes through the ``y`` filter, which writes a YAML scalar that reads back
with the same type (``5.0e-06`` stays a float, ``"true"`` and ``"2"`` stay strings).

Names the notebook made unique with timestamps are made unique by content instead: the pipeline job is
named after a hash of its rendered text, and the model version derives from the same hash.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from .catalog import ComponentInterface, find_sku, load_interface
from .config import Environment
from .errors import ConfigError, TemplateError
from .yamlutil import scalar

SPECS_DIR = "specs"
TEMPLATE_DIR = "templates"

# Which template renders which spec file (in apply order).
SPEC_FILES = {
    "compute.yml": "compute.yml.j2",
    "data-{role}.yml": "data.yml.j2",
    "pipeline-job.yml": "pipeline-job.yml.j2",
    "model.yml": "model.yml.j2",
    "endpoint.yml": "endpoint.yml.j2",
    "deployment.yml": "deployment.yml.j2",
    "endpoint-traffic.yml": "endpoint.yml.j2",
}

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
DATA_ROLES = {"train": "train_file_path", "validation": "validation_file_path", "test": "test_file_path"}


@dataclass(frozen=True)
class RenderResult:
    env: str
    files: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    job_name: str = ""
    model_version: str = ""


# --------------------------------------------------------------------------- jinja
def _block(value: Mapping[str, Any], indent: int) -> str:
    pad = " " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, Mapping):
            lines.append(f"{pad}{scalar(str(key))}:")
            lines.append(_block(item, indent + 2))
        elif isinstance(item, (list, tuple)):
            from .yamlutil import flow

            lines.append(f"{pad}{scalar(str(key))}: {flow(list(item))}")
        else:
            lines.append(f"{pad}{scalar(str(key))}: {scalar(item)}")
    return "\n".join(lines)


def _defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the variable
    return value


def make_jinja(templates: Mapping[str, str]) -> jinja2.Environment:
    def load(name: str) -> tuple[str, str, Any] | None:
        if name not in templates:
            return None
        return templates[name], f"{TEMPLATE_DIR}/{name}", lambda: True

    jenv = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    jenv.filters["y"] = lambda value: scalar(_defined(value))
    jenv.filters["block"] = lambda value, indent: _block(_defined(value), indent)
    return jenv


def _render_one(jenv: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        text = jenv.get_template(name).render(template=name, **context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", where=f"{exc.filename or name}:{exc.lineno}") from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template not found: {exc.name}", where=TEMPLATE_DIR) from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"undefined variable: {exc.message}", where=_template_line(exc, name)) from None
    except (ValueError, TypeError) as exc:  # a value the y filter cannot write as YAML
        raise TemplateError(str(exc), where=_template_line(exc, name)) from None
    text = text.replace("\r\n", "\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text if text.endswith("\n") else text + "\n"


def _template_line(exc: BaseException, fallback: str) -> str:
    tb = exc.__traceback__
    where = f"{TEMPLATE_DIR}/{fallback}"
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(f"{TEMPLATE_DIR}/"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


# --------------------------------------------------------------------------- resolution
def resolve_finetune_params(env: Environment, interface: ComponentInterface) -> tuple[dict[str, Any], list[str]]:
    """The fine-tuning inputs: the environment's values, overridden by the model's ``model_specific_defaults``
    (with a warning, as the notebook does), each checked against the component interface."""
    cfg = env.config
    params: dict[str, Any] = dict(cfg.finetune)
    warnings: list[str] = []
    for name, value in params.items():
        if name in MANAGED_INPUTS:
            raise ConfigError(
                f"'{name}' is set by amlgen from {MANAGED_INPUTS[name]}; remove it here", where=env.where("finetune", name)
            )
        if name not in interface.inputs:
            raise ConfigError(interface.unknown_input_message(name), where=env.where("finetune", name))
        problem = interface.inputs[name].check(value)
        if problem:
            raise ConfigError(problem, where=env.where("finetune", name))
    overrides = cfg.foundation_model.tags.model_specific_defaults or {}
    for name, value in overrides.items():
        where = env.where("foundation_model", "tags", "model_specific_defaults", name)
        if name not in interface.inputs:
            raise ConfigError(interface.unknown_input_message(name), where=where)
        problem = interface.inputs[name].check(value)
        if problem:
            raise ConfigError(problem, where=where)
        if params.get(name) != value:
            warnings.append(
                f"{where}: model_specific_defaults overrides finetune.{name}: {params.get(name)!r} -> {value!r}"
            )
        params[name] = value
    return params, warnings


def display_name(model: str, params: Mapping[str, Any], gpus_per_node: int) -> str:
    """Exactly the notebook's ``get_pipeline_display_name()``."""
    batch_size = (
        int(params.get("per_device_train_batch_size", 1))
        * int(params.get("gradient_accumulation_steps", 1))
        * int(gpus_per_node)
        * int(params.get("num_nodes_finetune", 1))
    )
    scheduler = params.get("lr_scheduler_type", "linear")
    ds_string = f"ds{params.get('deepspeed_stage', '2')}" if params.get("apply_deepspeed", "false") == "true" else "nods"
    lora_string = "lora" if params.get("apply_lora", "false") == "true" else "nolora"
    save_limit = params.get("save_total_limit", -1)
    seq_len = params.get("max_seq_length", -1)
    return (
        f"{model}-ultrachat-bs{batch_size}-{scheduler}-{ds_string}-{lora_string}"
        f"-save_limit{save_limit}-seqlen{seq_len}"
    )


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def data_inputs(env: Environment, manifest: Mapping[str, Any] | None) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Pipeline data inputs by component input name, plus the data-asset specs to render (asset mode)."""
    data = env.config.data
    splits = {"train": data.train_split, "validation": data.validation_split, "test": data.test_split}
    inputs: dict[str, dict[str, Any]] = {}
    assets: list[dict[str, Any]] = []
    if data.assets.mode == "asset":
        from .data.assets import data_assets  # the dataset step owns manifest semantics

        if manifest is None:
            raise ConfigError(
                f"data.assets.mode is 'asset' but {data.resolved_output_dir}/manifest.json does not exist: "
                f"run `amlgen data prepare --env {env.name}` and commit the manifest",
                where=env.where("data", "assets", "mode"),
            )
        for asset in data_assets(env, manifest):
            if asset.version is None:
                raise ConfigError(
                    f"split '{asset.split}' is not in {data.resolved_output_dir}/manifest.json; "
                    f"re-run `amlgen data prepare --env {env.name}`",
                    where=env.where("data", f"{asset.role}_split"),
                )
            inputs[DATA_ROLES[asset.role]] = {"path": f"azureml:{asset.name}:{asset.version}"}
            tags: dict[str, Any] = {**env.config.tags, "split": asset.split}
            if asset.rows is not None:
                tags["rows"] = asset.rows
            assets.append(
                {
                    "role": asset.role,
                    "name": asset.name,
                    "version": asset.version,
                    "path": f"../../{asset.path}",
                    "description": asset.description,
                    "tags": tags,
                }
            )
    else:
        for role, split in splits.items():
            if split is not None:
                inputs[DATA_ROLES[role]] = {"path": f"../../{data.resolved_output_dir}/{split}.jsonl"}
    return inputs, assets


def build_context(env: Environment, manifest: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    cfg = env.config
    interface = load_interface(cfg.component.name, cfg.component.version)
    params, warnings = resolve_finetune_params(env, interface)

    ft_size = cfg.compute.finetune_size
    sku = find_sku(ft_size)
    size_key = ("compute", "instance_types", "finetune") if cfg.compute.serverless else ("compute", "size")
    if sku is None:
        raise ConfigError(f"unknown VM size '{ft_size}': amlgen needs its GPU count (add it to the SKU catalog)", where=env.where(*size_key))
    gpus = params.pop("number_of_gpu_to_use_finetuning", sku.gpus)
    if "number_of_gpu_to_use_finetuning" in cfg.finetune:
        gpus = cfg.finetune["number_of_gpu_to_use_finetuning"]

    compute_inputs: dict[str, Any] = {}
    if cfg.compute.serverless:
        it = cfg.compute.instance_types
        assert it is not None
        sizes = {"model_import": it.model_import, "preprocess": it.preprocess, "finetune": it.finetune,
                 "model_evaluation": it.model_evaluation or it.finetune}
        for step in STEPS:
            compute_inputs[f"compute_{step}"] = "serverless"
        for step in STEPS:
            compute_inputs[f"instance_type_{step}"] = sizes[step]
    else:
        for step in STEPS:
            compute_inputs[f"compute_{step}"] = cfg.compute.name

    fm = cfg.foundation_model
    model_path = f"azureml://registries/{fm.registry}/models/{fm.name}/versions/{fm.version}"
    component_id = f"azureml://registries/{cfg.component.registry}/components/{cfg.component.name}/versions/{cfg.component.version}"
    inputs_data, assets = data_inputs(env, manifest)
    job_params = {"number_of_gpu_to_use_finetuning": gpus, **params}
    input_names = ["mlflow_model_path", *compute_inputs, *inputs_data, *job_params]
    unknown = [n for n in input_names if n not in interface.inputs]
    if unknown:  # the pinned component lacks an input amlgen sets (a component version that drifted)
        raise ConfigError(interface.unknown_input_message(unknown[0]), where=env.where("component", "version"))

    tags = dict(cfg.tags)
    job = {
        "name": "",
        "display_name": cfg.pipeline.display_name or display_name(fm.name, job_params, gpus),
        "experiment_name": cfg.pipeline.experiment_name or f"chat_completion_{fm.name}",
        "description": cfg.pipeline.description
        or f"Fine-tune {fm.name} {fm.version} on {cfg.data.dataset} with {cfg.component.name} {cfg.component.version}",
        "force_rerun": cfg.pipeline.force_rerun,
        "continue_on_step_failure": cfg.pipeline.continue_on_step_failure,
        "model_path": model_path,
        "compute_inputs": compute_inputs,
        "data_inputs": inputs_data,
        "params": job_params,
        "step": cfg.component.name,
        "component_id": component_id,
        "input_names": input_names,
    }
    model_name = cfg.model.name or f"{fm.name}-ultrachat-200k".replace("/", "-")
    endpoint = {
        "name": cfg.endpoint.name,
        "auth_mode": cfg.endpoint.auth_mode,
        "description": cfg.endpoint.description
        or f"Online endpoint for {model_name}, fine tuned model for ultrachat chat-completion",
        "traffic": {cfg.deployment.name: cfg.deployment.traffic},
    }
    dep = cfg.deployment
    probe = {k: v for k, v in dep.liveness_probe.model_dump().items() if v is not None}
    readiness = {k: v for k, v in dep.readiness_probe.model_dump().items() if v is not None} if dep.readiness_probe else None
    request_settings: dict[str, Any] = {"request_timeout_ms": dep.request_timeout_ms}
    if dep.max_concurrent_requests_per_instance is not None:
        request_settings["max_concurrent_requests_per_instance"] = dep.max_concurrent_requests_per_instance
    context = {
        "env": env.name,
        "sources": list(env.files),
        "tags": tags,
        "compute": cfg.compute,
        "component": cfg.component,
        "job": job,
        "model": {
            "name": model_name,
            "description": cfg.model.description or f"{fm.name} fine tuned model for ultrachat 200k chat-completion",
        },
        "endpoint": endpoint,
        "deployment": {
            "name": dep.name,
            "instance_type": dep.instance_type,
            "instance_count": dep.instance_count,
            "liveness_probe": probe,
            "readiness_probe": readiness,
            "request_settings": request_settings,
        },
        "assets": assets,
    }
    return context, warnings


def render_environment(env: Environment, templates: Mapping[str, str], manifest: Mapping[str, Any] | None = None) -> RenderResult:
    """Render every spec of one environment. Pure: same inputs, same bytes."""
    context, warnings = build_context(env, manifest)
    jenv = make_jinja(templates)
    out_dir = f"{SPECS_DIR}/{env.name}"
    files: dict[str, str] = {}
    cfg = env.config

    if not cfg.compute.serverless:
        files[f"{out_dir}/compute.yml"] = _render_one(jenv, "compute.yml.j2", context)
    for asset in context["assets"]:
        files[f"{out_dir}/data-{asset['role']}.yml"] = _render_one(jenv, "data.yml.j2", {**context, "asset": asset})

    # The job name is a hash of the job spec rendered without a name: any change to the job renames it.
    unnamed = _render_one(jenv, "pipeline-job.yml.j2", context)
    digest = content_hash(unnamed)
    job_name = f"{slug(cfg.foundation_model.name)}-ultrachat-{digest[:12]}"
    model_version = str(int(digest[:8], 16))
    context["job"] = {**context["job"], "name": job_name}
    files[f"{out_dir}/pipeline-job.yml"] = _render_one(jenv, "pipeline-job.yml.j2", context)

    model = context["model"]
    fm = cfg.foundation_model
    context["model"] = {
        **model,
        "version": model_version,
        "path": f"azureml://jobs/{job_name}/outputs/trained_model",
        "tags": {
            **context["tags"],
            "base_model": f"azureml://registries/{fm.registry}/models/{fm.name}/versions/{fm.version}",
            "training_job": job_name,
        },
    }
    files[f"{out_dir}/model.yml"] = _render_one(jenv, "model.yml.j2", context)
    files[f"{out_dir}/endpoint.yml"] = _render_one(jenv, "endpoint.yml.j2", {**context, "with_traffic": False})
    context["deployment"]["model"] = f"azureml:{model['name']}:{model_version}"
    files[f"{out_dir}/deployment.yml"] = _render_one(jenv, "deployment.yml.j2", context)
    files[f"{out_dir}/endpoint-traffic.yml"] = _render_one(jenv, "endpoint.yml.j2", {**context, "with_traffic": True})
    return RenderResult(env=env.name, files=files, warnings=warnings, job_name=job_name, model_version=model_version)


def warn(lines: list[str]) -> None:  # pragma: no cover - convenience for callers
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)
