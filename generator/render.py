"""Pure rendering: (environment, template texts, data facts) -> {project-relative path: spec text}.

Nothing here reads or writes files, talks to Azure or imports the dataset step: the caller passes the template
sources and what the dataset step knows (``DataInfo``, plain data) in. One loop over the kinds table
(``generator.kinds``) renders every spec the environment has, in dependency order, the way Helm renders a chart.

Jinja runs with StrictUndefined and ``[[ ]]`` / ``[% %]`` delimiters, so Azure ML's ``${{parent.inputs.x}}``
passes through untouched. Every value goes through the ``y`` filter, which writes a YAML scalar that reads back
with the same type (``5.0e-06`` stays a float, ``"true"`` and ``"2"`` stay strings). Every rendered text is
parsed back before it is returned: a template that produces broken YAML fails here, naming the template.

Names the notebook made unique with timestamps are made unique by content instead: the pipeline job is named
after a hash of its rendered text (which includes the data's identity), and the model version derives from the
same hash (a positive integer below 2^31, as the service requires).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2

from .catalog import ComponentInterface, find_sku, load_interface
from .config import Environment
from .errors import TemplateError
from .finetune import STEPS, Change, effective_params
from .kinds import KINDS
from .names import version_from_digest
from .paths import SPECS_DIR, TEMPLATE_DIR
from .yamlutil import flow, safe_load, scalar

DATA_ROLES = {"train": "train_file_path", "validation": "validation_file_path", "test": "test_file_path"}


@dataclass(frozen=True)
class DataInfo:
    """What the dataset step tells render, as plain data (see ``generator.data.inputs``)."""

    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # component input -> {"path": ...}
    assets: list[Mapping[str, Any]] = field(default_factory=list)  # data-asset specs to render (asset mode)
    identity: str | None = None  # digest of the prepared files (manifest); None when not prepared yet


@dataclass(frozen=True)
class RenderResult:
    env: str
    files: dict[str, str]
    kinds: dict[str, str] = field(default_factory=dict)  # path -> kind name
    warnings: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # parameters the model's defaults changed
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
            lines.append(f"{pad}{scalar(str(key))}: {flow(list(item))}")
        else:
            lines.append(f"{pad}{scalar(str(key))}: {scalar(item)}")
    return "\n".join(lines)


def _defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the variable
    return value


def make_jinja(templates: Mapping[str, str]) -> jinja2.Environment:
    """The Jinja environment of these template sources, shared by every environment a run renders (each template
    is compiled once per run, not once per environment)."""
    return _jinja(tuple(sorted(templates.items())))


@lru_cache(maxsize=8)
def _jinja(sources: tuple[tuple[str, str], ...]) -> jinja2.Environment:
    templates = dict(sources)

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


def _render_one(jenv: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
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


def parse_output(text: str, template: str, path: str) -> dict[str, Any]:
    """The rendered text read back as YAML: a template producing broken YAML is refused before any write."""
    from .errors import ConfigError

    try:
        data = safe_load(text, path)
    except ConfigError as exc:
        raise TemplateError(f"renders invalid YAML into {path}: {exc.message} ({exc.where})",
                            where=f"{TEMPLATE_DIR}/{template}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"renders {path} as something other than a YAML mapping", where=f"{TEMPLATE_DIR}/{template}")
    return data


# --------------------------------------------------------------------------- context
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


def _job_context(env: Environment, data: DataInfo, interface: ComponentInterface) -> tuple[dict[str, Any], list[Change]]:
    cfg = env.config
    fm = cfg.foundation_model
    model = env.model
    defaults_where = f"{model.where}: model_specific_defaults of {model.name} {model.version}"
    params, changes = effective_params(cfg.finetune, model.model_defaults(), cfg.finetune_keep, interface,
                                       defaults_where=defaults_where, where=env.where)
    sku = find_sku(cfg.compute.finetune_size)
    assert sku is not None  # checked when the environment was loaded (generator.checks)
    gpus = params.pop("number_of_gpu_to_use_finetuning", sku.gpus)

    compute_inputs: dict[str, Any] = {}
    if cfg.compute.serverless:
        it = cfg.compute.instance_types
        assert it is not None
        sizes = {"model_import": it.model_import, "preprocess": it.preprocess, "finetune": it.finetune,
                 "model_evaluation": it.model_evaluation or it.finetune}
        compute_inputs.update({f"compute_{step}": "serverless" for step in STEPS})
        compute_inputs.update({f"instance_type_{step}": sizes[step] for step in STEPS})
    else:
        compute_inputs.update({f"compute_{step}": cfg.compute.name for step in STEPS})

    model_path = model.asset_id  # the version the lock resolved
    job_params = {"number_of_gpu_to_use_finetuning": gpus, **params}
    input_names = ["mlflow_model_path", *compute_inputs, *data.inputs, *job_params]
    unknown = [n for n in input_names if n not in interface.inputs]
    if unknown:  # the pinned component lacks an input amlgen sets (a component version that drifted)
        from .errors import ConfigError

        raise ConfigError(interface.unknown_input_message(unknown[0]), where=env.where("component", "version"))
    tags = dict(cfg.tags)
    if data.identity:
        tags["data"] = data.identity  # the prepared files' identity: different data, different job
    job = {
        "name": "",
        "display_name": cfg.pipeline.display_name or display_name(fm.name, job_params, gpus),
        "experiment_name": cfg.pipeline.experiment_name or f"chat_completion_{fm.name}",
        "description": cfg.pipeline.description
        or f"Fine-tune {fm.name} {model.version} on {cfg.data.dataset} with {cfg.component.name} {env.component_version}",
        "force_rerun": cfg.pipeline.force_rerun,
        "continue_on_step_failure": cfg.pipeline.continue_on_step_failure,
        "model_path": model_path,
        "compute_inputs": compute_inputs,
        "data_inputs": dict(data.inputs),
        "params": job_params,
        "step": cfg.component.name,
        "component_id": f"azureml://registries/{cfg.component.registry}/components/{cfg.component.name}"
                        f"/versions/{env.component_version}",
        "input_names": input_names,
        "tags": tags,
    }
    return job, changes


def build_context(env: Environment, data: DataInfo, interface: ComponentInterface | None) -> tuple[dict[str, Any], list[Change]]:
    """The template variables of one environment (before the content-derived names are known)."""
    cfg = env.config
    fm = cfg.foundation_model
    changes: list[Change] = []
    job: dict[str, Any] = {}
    if env.trains:
        assert interface is not None
        job, changes = _job_context(env, data, interface)
    model_name = cfg.model.name or f"{fm.name}-ultrachat-200k".replace("/", "-").replace(".", "-")
    dep = cfg.deployment
    # dict(probe): the fields' values (plain numbers), what model_dump gives, without building a serializer
    probe = {k: v for k, v in dict(dep.liveness_probe).items() if v is not None}
    readiness = {k: v for k, v in dict(dep.readiness_probe).items() if v is not None} if dep.readiness_probe else None
    request_settings: dict[str, Any] = {"request_timeout_ms": dep.request_timeout_ms}
    if dep.max_concurrent_requests_per_instance is not None:
        request_settings["max_concurrent_requests_per_instance"] = dep.max_concurrent_requests_per_instance
    context = {
        "env": env.name,
        "trains": env.trains,
        "sources": list(env.files),
        "tags": dict(cfg.tags),
        "compute": cfg.compute,
        "component": cfg.component,
        "job": job,
        "model": {
            "name": model_name,
            "description": cfg.model.description or f"{fm.name} fine tuned model for ultrachat 200k chat-completion",
        },
        "endpoint": {
            "name": env.endpoint_name,
            "auth_mode": cfg.endpoint.auth_mode,
            "description": cfg.endpoint.description
            or f"Online endpoint for {model_name}, fine tuned model for ultrachat chat-completion",
            "traffic": {},
        },
        "deployment": {
            "name": "",
            "model": "",
            "instance_type": dep.instance_type,
            "instance_count": dep.instance_count,
            "liveness_probe": probe,
            "readiness_probe": readiness,
            "request_settings": request_settings,
        },
        "assets": list(data.assets) if env.trains else [],
    }
    promoted = cfg.promoted
    if not env.trains and promoted is not None:  # a deploying environment serves the promoted registry model
        _deploy(context, env, promoted.version, promoted.asset_id)
    return context, changes


def _named_by_content(context: dict[str, Any], env: Environment, digest: str) -> None:
    """Once the job's unnamed text is hashed: its name, the model version and what refers to them."""
    fm = env.config.foundation_model
    job_name = f"{slug(fm.name)}-ultrachat-{digest[:12]}"
    version = version_from_digest(digest)
    context["job"] = {**context["job"], "name": job_name}
    model = context["model"]
    context["model"] = {
        **model,
        "version": version,
        "path": f"azureml://jobs/{job_name}/outputs/trained_model",
        "tags": {**context["tags"], "base_model": context["job"]["model_path"], "training_job": job_name},
    }
    _deploy(context, env, version, f"azureml:{model['name']}:{version}")


def _deploy(context: dict[str, Any], env: Environment, version: str, model_ref: str) -> None:
    """The deployment serves ``model_ref``; an ``auto`` name follows the model version (blue/green)."""
    dep = env.config.deployment
    name = f"v{version}" if dep.name == "auto" else dep.name
    context["deployment"] = {**context["deployment"], "name": name, "model": model_ref}
    context["endpoint"] = {**context["endpoint"], "traffic": {name: dep.traffic}}


def render_environment(env: Environment, templates: Mapping[str, str], data: DataInfo | None = None,
                       root: Any = None) -> RenderResult:
    """Render every spec of one environment (one loop over the kinds table). Pure: same inputs, same bytes."""
    data = data or DataInfo()
    interface = load_interface(env.config.component.name, env.component_version, root) if env.trains else None
    context, changes = build_context(env, data, interface)
    jenv = make_jinja(templates)
    out_dir = f"{SPECS_DIR}/{env.name}"
    files: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for kind in KINDS:
        for instance in kind.instances(context):
            variables = {**context, **instance.vars}
            text = _render_one(jenv, kind.template, variables)
            if kind.run_once:  # named after a hash of its own text rendered without a name
                _named_by_content(context, env, content_hash(text))
                text = _render_one(jenv, kind.template, {**context, **instance.vars})
            path = f"{out_dir}/{instance.file}"
            parse_output(text, kind.template, path)
            files[path] = text
            kinds[path] = kind.name
    job = context["job"]
    return RenderResult(env=env.name, files=files, kinds=kinds, warnings=list(env.warnings), changes=changes,
                        job_name=job.get("name", ""), model_version=context["model"].get("version", ""))
