"""Validate specs: the gate for committed, hand-edited or stale files (render checks its own output first).

1. a managed specs folder holds exactly what render generates for the environment, each spec rendered for it
   (``specset``: no stray or missing file, the generated header names the environment);
2. every spec loads with the matching azure-ai-ml ``load_*`` (kind from the kinds table), and sets no key the
   SDK's schema drops silently (``specset.unknown_keys``: ``settings.force_rerunn`` is refused);
3. cross-references inside an environment's spec set: deployment -> endpoint, deployment -> model
   name:version, model -> job output, job computes -> compute spec, job data -> data-asset specs, traffic ->
   deployments; local paths stay inside the project;
4. pipeline inputs against the pinned component's interface (names, types, enums, minimums, required);
5. VM sizes against the SKU catalog (known, not retired, GPUs to use <= GPUs of the size) and the foundation
   model's allow-lists -- the same rules ``generator.checks`` runs on ``infra/`` before render.

Problems name the spec file, line and field. azure.ai.ml is imported only here (through ``specset``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import find_sku, in_allow_list, load_interface, sku_problem
from .config import Environment
from .errors import AmlgenError, ConfigError, ToolFailure
from .specset import SpecFile, load_entity, outside_message, outside_paths, read_spec, unknown_keys
from .specset import SpecFile as Spec
from .yamlutil import dotted

REGISTRY_COMPONENT = re.compile(r"^azureml://registries/(?P<reg>[^/]+)/components/(?P<name>[^/]+)/(?P<how>versions|labels)/(?P<ver>[^/]+)$")
JOB_OUTPUT = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)$")
BINDING = re.compile(r"^\$\{\{parent\.inputs\.(?P<name>\w+)\}\}$")
ASSET_REF = re.compile(r"^azureml:(?P<name>[^:/]+):(?P<ver>[^:/]+)$")


@dataclass
class Problem:
    file: str
    line: int
    field: str
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.field + ': ' if self.field else ''}{self.message}"


@dataclass
class Report:
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


# --------------------------------------------------------------------------- loading
def _flatten(messages: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out.extend(_flatten(value, prefix + (str(key),)))
        return out
    if isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            return [(prefix, " ".join(messages))]
        out = []
        for item in messages:
            out.extend(_flatten(item, prefix))
        return out
    return [(prefix, str(messages))]


def sdk_problems(spec: Spec, *, text: str | None = None, origin: Path | None = None) -> list[Problem]:
    """What azure-ai-ml's ``load_*`` says about a spec (from its file, or from ``text`` not yet written)."""
    return sdk_check(spec, text=text, origin=origin)[1]


def sdk_check(spec: Spec, *, text: str | None = None, origin: Path | None = None) -> tuple[Any, list[Problem]]:
    """``sdk_problems`` and the entity the SDK built (None when it could not build one): the engine uses that entity
    once instead of loading the spec a second time."""
    from marshmallow.exceptions import ValidationError as MarshmallowError

    loader = f"{spec.kind.loader}"
    problems: list[Problem] = []
    try:
        entity = load_entity(spec.kind, path=spec.path, text=text, origin=origin)
    except MarshmallowError as exc:
        messages: Any = exc.messages
        if isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], str):
            # azure-ai-ml re-raises with the field errors as JSON inside one human-readable string
            match = re.search(r"failed:\s*(\{.*?\})\s*(?:\n\s*\n|$)", messages[0], re.S)
            if match:
                try:
                    messages = json.loads(match[1])
                except ValueError:
                    pass
        for path, message in _flatten(messages):
            if isinstance(message, str):
                message = re.sub(r"\s*Visit this link.*$", "", " ".join(message.split()), flags=re.S)
            keys = tuple(int(p) if p.isdigit() else p for p in path)
            problems.append(Problem(spec.shown, spec.line(*keys), dotted(keys), f"{message} (azure-ai-ml {loader})"))
        return None, problems
    except ToolFailure:
        raise
    except Exception as exc:  # azure.ai.ml.exceptions.ValidationException and friends
        text_ = " ".join(str(getattr(exc, "message", None) or exc).split())
        text_ = re.sub(r"Visit this link.*$", "", text_).strip()
        return None, [Problem(spec.shown, 0, "", f"azure-ai-ml {loader} failed: {text_[:500]}")]
    for keys in unknown_keys(spec.data, entity):
        problems.append(Problem(spec.shown, spec.line(*keys), dotted(keys),
                                f"unknown key: azure-ai-ml {loader} drops it silently (a typo?)"))
    return entity, problems


# --------------------------------------------------------------------------- offline checks
def check_set(specs: list[Spec], env: Environment | None, report: Report, root: Path | None = None) -> None:
    """Cross-reference and semantic checks over the specs of one directory (one environment)."""
    by_kind: dict[str, list[Spec]] = {}
    for spec in specs:
        by_kind.setdefault(spec.kind.name, []).append(spec)

    def err(spec: Spec, keys: tuple[str | int, ...], message: str, severity: str = "error") -> None:
        report.problems.append(Problem(spec.shown, spec.line(*keys), dotted(keys), message, severity))

    computes = {s.data.get("name"): s for s in by_kind.get("compute", [])}
    jobs = {s.data.get("name"): s for s in by_kind.get("job", [])}
    models = {(s.data.get("name"), str(s.data.get("version"))): s for s in by_kind.get("model", [])}
    endpoints = {s.data.get("name"): s for s in by_kind.get("endpoint", []) + by_kind.get("traffic", [])}
    data_assets = {(s.data.get("name"), str(s.data.get("version"))): s for s in by_kind.get("data", [])}
    deployments = by_kind.get("deployment", [])
    allow = _allow_lists(env)

    for spec in by_kind.get("compute", []):
        size = spec.data.get("size")
        if isinstance(size, str):
            _check_size(spec, ("size",), size, need_gpu=False, report=report)

    for spec in by_kind.get("data", []):
        path = spec.data.get("path")
        if isinstance(path, str) and not re.match(r"^(azureml|https?|wasbs?|abfss?)://", path):
            local = (spec.path.parent / path).resolve()
            if not local.exists():
                err(spec, ("path",), f"local file {path} does not exist yet (run `amlgen data prepare`)", "warning")

    for job in jobs.values():
        _check_job(job, computes, data_assets, allow, report, err, root)

    for model in models.values():
        path = str(model.data.get("path", ""))
        match = JOB_OUTPUT.match(path)
        if match:
            job = jobs.get(match["job"])
            if job is None:
                err(model, ("path",), f"refers to job '{match['job']}', which no pipeline-job spec here defines" +
                    (f" (the job spec names '{next(iter(jobs))}')" if jobs else ""))
            elif match["out"] not in (job.data.get("outputs") or {}):
                err(model, ("path",), f"job '{match['job']}' has no output '{match['out']}'")

    for dep in deployments:
        ep = dep.data.get("endpoint_name")
        if endpoints and ep not in endpoints:
            err(dep, ("endpoint_name",), f"endpoint '{ep}' is not defined by an endpoint spec here ({', '.join(map(str, endpoints))})")
        model_ref = dep.data.get("model")
        if isinstance(model_ref, str):
            match = ASSET_REF.match(model_ref)
            if match and models and (match["name"], match["ver"]) not in models:
                have = ", ".join(f"{n}:{v}" for n, v in models)
                err(dep, ("model",), f"model {match['name']}:{match['ver']} is not the registered model spec here ({have})")
            elif not match and not model_ref.startswith("azureml://registries/"):
                err(dep, ("model",), "must reference a registered model as azureml:<name>:<version> (pinned)")
        size = dep.data.get("instance_type")
        if isinstance(size, str):
            _check_size(dep, ("instance_type",), size, need_gpu=False, report=report)
            if allow and not in_allow_list(size, allow["inference"]) and not env.config.deployment.allow_list_exception:  # type: ignore[union-attr]
                err(dep, ("instance_type",), f"'{size}' is not in the model's inference_compute_allow_list")

    dep_names = {(d.data.get("endpoint_name"), d.data.get("name")) for d in deployments}
    for ep in by_kind.get("endpoint", []) + by_kind.get("traffic", []):
        traffic = ep.data.get("traffic")
        if not traffic:
            continue
        if not isinstance(traffic, dict):
            err(ep, ("traffic",), "must map deployment names to percentages")
            continue
        for name, pct in traffic.items():
            if (ep.data.get("name"), name) not in dep_names:
                err(ep, ("traffic", name), f"deployment '{name}' of endpoint '{ep.data.get('name')}' is not defined by a deployment spec here")
            if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
                err(ep, ("traffic", name), f"must be an integer percentage 0-100, got {pct!r}")
        total = sum(v for v in traffic.values() if isinstance(v, int))
        if total not in (0, 100):
            err(ep, ("traffic",), f"percentages must add up to 100 (or 0), got {total}")


def _check_size(spec: Spec, keys: tuple[str, ...], size: str, *, need_gpu: bool, report: Report) -> None:
    problem = sku_problem(size, need_gpu=need_gpu)
    if problem:
        report.problems.append(Problem(spec.shown, spec.line(*keys), dotted(keys), problem))
        return
    sku = find_sku(size)
    if sku and sku.status == "retiring":
        report.problems.append(Problem(spec.shown, spec.line(*keys), dotted(keys), f"'{sku.name}' is being retired: {sku.note}", "warning"))


def _allow_lists(env: Environment | None) -> dict[str, list[str] | None] | None:
    """The locked model's allow-lists (None for loose files: no environment, no lock)."""
    if env is None or env.model is None:
        return None
    return {"finetune": env.model.allow_list("finetune"), "inference": env.model.allow_list("inference"),
            "finetune_exception": env.config.compute.allow_list_exception}


def _check_job(job: Spec, computes: dict[Any, Spec], data_assets: dict[Any, Spec], allow: Any, report: Report, err: Any,
               root: Path | None = None) -> None:
    parent_inputs: dict[str, Any] = job.data.get("inputs") or {}
    used: set[str] = set()
    steps = job.data.get("jobs") or {}
    for step_name, step in steps.items():
        if not isinstance(step, dict):
            continue
        component = str(step.get("component", ""))
        match = REGISTRY_COMPONENT.match(component)
        if not match:
            continue
        if match["how"] == "labels":
            err(job, ("jobs", step_name, "component"), f"component is not pinned (label '{match['ver']}'); use /versions/<version>")
            continue
        try:
            interface = load_interface(match["name"], match["ver"], root)
        except ConfigError as exc:
            err(job, ("jobs", step_name, "component"), exc.message)
            continue
        step_inputs: dict[str, Any] = step.get("inputs") or {}
        resolved: dict[str, tuple[Any, tuple[str | int, ...]]] = {}
        for name, value in step_inputs.items():
            keys: tuple[str | int, ...] = ("jobs", step_name, "inputs", name)
            if name not in interface.inputs:
                err(job, keys, interface.unknown_input_message(name))
                continue
            bind = BINDING.match(value) if isinstance(value, str) else None
            if bind:
                used.add(bind["name"])
                if bind["name"] not in parent_inputs:
                    err(job, keys, f"binds to ${{{{parent.inputs.{bind['name']}}}}}, which the pipeline does not define")
                    continue
                value, keys = parent_inputs[bind["name"]], ("inputs", bind["name"])
            resolved[name] = (value, keys)
            spec_input = interface.inputs[name]
            scalar_value = value.get("path", value.get("value")) if isinstance(value, dict) else value
            if isinstance(value, dict) and spec_input.type in ("string", "integer", "number", "boolean") and "value" not in value:
                err(job, keys, f"expects a {spec_input.type} value, got a mapping")
                continue
            problem = spec_input.check(scalar_value)
            if problem:
                err(job, keys, problem)
        for name, spec_input in interface.inputs.items():
            if not spec_input.optional and spec_input.default is None and name not in step_inputs:
                err(job, ("jobs", step_name, "inputs"), f"required input '{name}' of {interface.name} {interface.version} is missing")

        # computes: a named cluster must be defined here; serverless needs current instance types
        finetune_compute = None
        for step_kind in ("model_import", "preprocess", "finetune", "model_evaluation"):
            value, keys = resolved.get(f"compute_{step_kind}", ("serverless", ("jobs", step_name, "inputs")))
            if value == "serverless" or value is None:
                it_value, it_keys = resolved.get(f"instance_type_{step_kind}", (interface.inputs.get(f"instance_type_{step_kind}") and interface.inputs[f"instance_type_{step_kind}"].default, ("jobs", step_name, "inputs")))
                if isinstance(it_value, str):
                    gpu_step = step_kind in ("finetune", "model_evaluation")
                    problem = sku_problem(it_value, need_gpu=gpu_step)
                    if problem:
                        hint = "" if f"instance_type_{step_kind}" in resolved else f" (component default of instance_type_{step_kind}; set it)"
                        err(job, it_keys, problem + hint)
                    if step_kind == "finetune":
                        finetune_compute = (it_value, it_keys)
            else:
                name = str(value).removeprefix("azureml:")
                if name not in computes:
                    err(job, keys, f"compute '{name}' is not defined by a compute spec here" + (f" ({', '.join(map(str, computes))})" if computes else ""))
                elif step_kind == "finetune":
                    finetune_compute = (computes[name].data.get("size"), keys)
        gpus_value, gpus_keys = resolved.get("number_of_gpu_to_use_finetuning", (1, ("jobs", step_name, "inputs")))
        if finetune_compute and isinstance(finetune_compute[0], str):
            size, size_keys = finetune_compute
            sku = find_sku(size)
            if sku is not None:
                if sku.gpus < 1:
                    err(job, size_keys, f"fine-tuning needs a GPU size; '{sku.name}' has none")
                elif isinstance(gpus_value, int) and gpus_value > sku.gpus:
                    err(job, gpus_keys, f"uses {gpus_value} GPUs per node but '{sku.name}' has {sku.gpus}")
            if allow and not in_allow_list(size, allow["finetune"]) and not allow["finetune_exception"]:
                err(job, size_keys, f"'{size}' is not in the model's finetune_compute_allow_list")

        # data assets referenced by name:version must be defined here
        for value, keys in resolved.values():
            path = value.get("path") if isinstance(value, dict) else None
            match_ref = ASSET_REF.match(path) if isinstance(path, str) else None
            if match_ref and (match_ref["name"], match_ref["ver"]) not in data_assets:
                err(job, keys + ("path",), f"data asset {match_ref['name']}:{match_ref['ver']} is not defined by a data spec here")

    for name in parent_inputs:
        if steps and name not in used:
            err(job, ("inputs", name), f"pipeline input '{name}' is not passed to any step (a typo?)")


# --------------------------------------------------------------------------- entry point
def validate_specs(specs: list[Spec], root: Path, env: Environment | None, report: Report) -> None:
    """SDK load and offline checks of one environment's specs (or of loose files: ``env`` None)."""
    for spec in specs:
        report.files.append(spec.shown)
        report.problems.extend(sdk_problems(spec))
        _check_local_paths(spec, root, report)
    try:
        check_set(specs, env, report, root)
    except AmlgenError:
        raise
    except Exception as exc:  # a check tripping over an odd but loadable spec is our bug, said plainly
        raise ToolFailure(f"internal error while checking {specs[0].shown if specs else ''}: {exc!r}") from exc


def validate_folder(folder: Path, expected: set[str], shown: str, root: Path, env: Environment, report: Report) -> None:
    """A managed specs folder: entries render did not generate, specs it generates that are missing, specs rendered
    for another environment are problems; the rest is validated as one set."""
    from .kinds import for_file
    from .specset import env_problem, folder_entries, missing_entries, render_hint, stray_entries

    def problem(name: str, message: str) -> None:
        report.files.append(f"{shown}/{name}")
        report.problems.append(Problem(f"{shown}/{name}", 0, "", message))

    for entry in stray_entries(folder, expected):
        name, _, what = entry.partition(" (")
        problem(name, f"not generated by `amlgen render` for this environment ({what.rstrip(')')}); a managed "
                "specs folder holds only rendered specs: remove it, or run `amlgen render`")
    for name in missing_entries(folder, expected):
        problem(name, f"missing; render generates it for this environment ({render_hint(env.name)})")
    specs = []
    for name in folder_entries(folder):
        if name not in expected or not (folder / name).is_file() or (folder / name).is_symlink():
            continue
        try:
            spec = read_spec(folder / name, f"{shown}/{name}", for_file(name))
        except AmlgenError as exc:
            report.files.append(f"{shown}/{name}")
            report.problems.append(Problem(exc.where or f"{shown}/{name}", 0, "", exc.message))
            continue
        if message := env_problem(folder / name, env.name):
            problem(name, message)
            continue
        specs.append(spec)
    validate_specs(specs, root, env, report)


def validate_files(paths: list[Path], root: Path) -> Report:
    """Validate loose spec files: files in the same folder are cross-checked as one set."""
    report = Report()
    groups: dict[Path, list[Spec]] = {}
    for path in paths:
        try:
            shown = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            shown = str(path)
        try:
            spec = read_spec(path, shown)
        except AmlgenError as exc:
            report.files.append(shown)
            report.problems.append(Problem(exc.where or shown, 0, "", exc.message))
            continue
        groups.setdefault(path.resolve().parent, []).append(spec)
    for specs in groups.values():
        validate_specs(specs, root, None, report)
    report.problems.sort(key=lambda p: (p.file, p.line, p.field))
    return report


def _check_local_paths(spec: Spec, root: Path, report: Report) -> None:
    """Local files a spec uploads (anywhere in it: ``specset.outside_paths``) must be inside the project."""
    for keys, what in outside_paths(spec.data, spec.path, root):
        report.problems.append(Problem(spec.shown, spec.line(*keys), dotted(keys), outside_message(what)))


def verify_rendered(root: Path, files: dict[str, str], only: set[str] | None = None) -> None:
    """Every rendered spec (or those in ``only``) loads with azure-ai-ml and sets no key its schema drops."""
    from .errors import SpecError
    from .kinds import for_file
    from .paths import SPECS_DIR
    from .yamlutil import loads_with_origins

    for path, text in sorted(files.items()):
        if not path.startswith(f"{SPECS_DIR}/") or (only is not None and path not in only):
            continue
        kind = for_file(path.rsplit("/", 1)[-1])
        if kind is None:
            raise SpecError(f"render produced {path}, which no kind in the kinds table names")
        data, origins = loads_with_origins(text, path)
        spec = SpecFile(root / path, path, kind, data, origins)
        problems = sdk_problems(spec, text=text, origin=(root / path).parent)
        if problems:
            raise SpecError(f"render produced a spec azure-ai-ml refuses ({problems[0]}); fix templates/"
                            f"{kind.template}")
