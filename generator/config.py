"""Environment definitions: ``infra/defaults.yml`` layered under ``infra/environments/<env>.yml``.

Loading is typed and strict (pydantic, ``extra="forbid"``, no type coercion): an unknown key, a wrong type, a
missing value or an invalid Azure name fails with ``file:line: key.path: what is wrong``. Mappings merge key
by key (the environment file wins); lists and scalars are replaced whole.

A new environment is one new file in ``infra/environments/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic import StringConstraints as SC

from .errors import ConfigError
from .names import (AssetName, AssetVersion, ComputeName, DeploymentName, EndpointName, Guid, RegistryAssetName,
                    RegistryName, Region, ResourceGroupName, VmSize, WorkspaceName)
from .names import RULES as NAME_RULES
from .names import unique_endpoint_name
from .paths import DEFAULTS_FILE, ENVIRONMENTS_DIR, INFRA_DIR, find_project_root, relative_problem
from .yamlutil import KeyPath, Origins, dotted, load_with_origins

# Field types for Azure names: the rules themselves live in generator.names (one home, tested against the SDK).
MAX_NODES = 1000  # instances of a cluster or deployment; anything above is a typo, not a plan
TagValue = str | int | float | bool
ParamValue = str | int | float | bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True,  # schemas built on first use
                              allow_inf_nan=False)  # NaN and infinities are never a setting


class EnvironmentMeta(Strict):
    description: str = ""
    protected: bool = False  # apply/destroy/replace on this environment's workspace need --yes or a confirmation
    role: Literal["train", "deploy"] = "train"  # train: compute, job, model; deploy: a promoted registry model


class Workspace(Strict):
    subscription_id: Guid
    resource_group: ResourceGroupName
    name: WorkspaceName
    location: Region


class PromotionRegistry(Strict):
    """The Azure ML registry that carries trained models from dev to prod."""

    name: RegistryName
    locations: list[Region] = Field(min_length=1)


class ModelTags(Strict):
    """Tags of the foundation model that amlgen understands (copied from the registry when pinning)."""

    finetune_compute_allow_list: list[VmSize] | None = None
    inference_compute_allow_list: list[VmSize] | None = None
    model_specific_defaults: dict[str, ParamValue] | None = None


class FoundationModel(Strict):
    registry: RegistryName = "azureml"
    name: RegistryAssetName
    version: AssetVersion  # pinned: never a 'latest' label
    tags: ModelTags = Field(default_factory=ModelTags)


class Component(Strict):
    registry: RegistryName = "azureml"
    name: AssetName = "chat_completion_pipeline"
    version: AssetVersion


class ServerlessInstanceTypes(Strict):
    model_import: VmSize = "Standard_D12_v2"
    preprocess: VmSize = "Standard_D12_v2"
    finetune: VmSize
    model_evaluation: VmSize | None = None  # defaults to the finetune size


class Compute(Strict):
    """Either a dedicated AmlCompute cluster (``serverless: false``) or serverless instance types."""

    serverless: bool = False
    name: ComputeName | None = None
    size: VmSize | None = None
    tier: Literal["dedicated", "low_priority"] = "dedicated"
    min_instances: int = Field(default=0, ge=0, le=MAX_NODES)
    max_instances: int = Field(default=1, ge=1, le=MAX_NODES)
    idle_time_before_scale_down: int = Field(default=120, ge=0, le=7 * 24 * 3600)  # seconds
    description: str = ""
    instance_types: ServerlessInstanceTypes | None = None

    @model_validator(mode="after")
    def _shape(self) -> Compute:
        if self.serverless:
            if self.instance_types is None:
                raise ValueError("serverless compute needs instance_types.finetune")
        else:
            missing = [k for k in ("name", "size") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a compute cluster needs {' and '.join(missing)} (or set serverless: true)")
            if self.instance_types is not None:
                raise ValueError("instance_types applies only to serverless: true")
            if self.min_instances > self.max_instances:
                raise ValueError(f"min_instances ({self.min_instances}) exceeds max_instances ({self.max_instances})")
        return self

    @property
    def finetune_size(self) -> str:
        return self.instance_types.finetune if self.serverless else self.size  # type: ignore[union-attr,return-value]


class DataAssets(Strict):
    # local: the pipeline job names the prepared files and the SDK uploads them at submission.
    # asset: data-asset specs versioned by content (from the committed manifest) and azureml:<name>:<version> refs.
    mode: Literal["asset", "local"] = "local"
    name_prefix: AssetName = "ultrachat-200k"


class Data(Strict):
    dataset: Annotated[str, SC(pattern=r"^[\w.-]+/[\w.-]+$")] = "HuggingFaceH4/ultrachat_200k"
    revision: str | None = None  # a hub commit to pin; None = the hub's default branch
    splits: list[Annotated[str, SC(pattern=r"^\w+$")]] = Field(
        default_factory=lambda: ["train_sft", "test_sft", "train_gen", "test_gen"], min_length=1
    )
    percent: float = Field(default=5, gt=0, le=100)
    sampling: Literal["head", "random"] = "head"
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    output_dir: str | None = None  # relative to the project; default derived from the settings (shared by envs)
    on_invalid: Literal["exclude", "reject"] = "reject"
    train_split: str = "train_sft"
    validation_split: str | None = None
    test_split: str | None = "test_sft"
    request_split: str = "test_gen"
    assets: DataAssets = Field(default_factory=DataAssets)

    @field_validator("output_dir")
    @classmethod
    def _inside_project(cls, value: str | None) -> str | None:
        problem = relative_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _splits_known(self) -> Data:
        for key in ("train_split", "validation_split", "test_split", "request_split"):
            value = getattr(self, key)
            if value is not None and value not in self.splits:
                raise ValueError(f"{key} '{value}' is not one of the prepared splits {self.splits}")
        return self

    def default_output_dir(self) -> str:
        pc = f"{self.percent:g}".replace(".", "_")
        slug = self.dataset.split("/")[-1].lower().replace("_", "-")
        seed = f"-seed{self.seed}" if self.sampling == "random" else ""
        rev = f"-{self.revision[:8]}" if self.revision else ""
        return f"data/{slug}{rev}-{self.sampling}{pc}pc{seed}"

    @property
    def resolved_output_dir(self) -> str:
        return self.output_dir or self.default_output_dir()


class Pipeline(Strict):
    experiment_name: AssetName | None = None  # default chat_completion_<model>
    display_name: str | None = None  # default built exactly as the notebook does
    force_rerun: bool = True
    continue_on_step_failure: bool = False
    description: str = ""


class RegisteredModel(Strict):
    name: AssetName | None = None  # default <model>-ultrachat-200k
    description: str | None = None


class Endpoint(Strict):
    # An online endpoint's name is global in its region: by default it is derived, unique by construction and
    # stable, as ``<name_prefix>-<env>-<hash of subscription/resource group/workspace/env>`` (generator.names).
    name: EndpointName | None = None  # an explicit name, if you own one that is unique in the region
    name_prefix: Annotated[str, SC(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{0,15}$")] = "ultrachat"
    auth_mode: Literal["key", "aml_token"] = "key"
    description: str | None = None
    # Hours an endpoint lives after apply creates it (unprotected environments): apply tags it with its expiry,
    # `amlgen reap` deletes it once expired (see docs/gitops.md). None: it lives until destroyed.
    ttl_hours: int | None = Field(default=None, ge=1, le=24 * 366)


class CostPolicy(Strict):
    """What plan calls out about cost (prices: generator/catalog/prices.yaml, infra/prices.yaml)."""

    monthly_threshold: float | None = Field(default=None, ge=0)  # USD/month a plan may add before it is called out


class Probe(Strict):
    initial_delay: int = Field(default=600, ge=0, le=3600)
    period: int | None = Field(default=None, ge=1, le=3600)
    timeout: int | None = Field(default=None, ge=1, le=3600)
    failure_threshold: int | None = Field(default=None, ge=1, le=1000)


class Deployment(Strict):
    name: DeploymentName = "demo"
    instance_type: VmSize
    instance_count: int = Field(default=1, ge=1, le=MAX_NODES)
    liveness_probe: Probe = Field(default_factory=Probe)
    readiness_probe: Probe | None = None
    request_timeout_ms: int = Field(default=90000, ge=1000, le=180000)
    max_concurrent_requests_per_instance: int | None = Field(default=None, ge=1, le=1000)
    traffic: int = Field(default=100, ge=0, le=100)


class Inference(Strict):
    """Generation parameters of the sample scoring request."""

    temperature: float = Field(default=0.6, ge=0, le=10)
    top_p: float = Field(default=0.9, gt=0, le=1)
    do_sample: bool = True
    max_new_tokens: int = Field(default=200, ge=1, le=1_000_000)


class Infrastructure(Strict):
    """Azure resources behind the workspace (infra/bicep/), rendered to infra/params/<env>/ by generator.iac."""

    name_base: Annotated[str, SC(pattern=r"^[a-z][a-z0-9]{1,11}$")] = "amlgen"  # prefix of derived resource names
    private_network: bool = False  # public network access off, managed VNet isolation, workspace private endpoint
    private_network_address_prefix: Annotated[str, SC(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")] = "10.60.0.0/24"
    deploy_principal_id: Guid | None = None  # object id of the identity that runs `amlgen apply`; None = no role assignments
    deploy_principal_type: Literal["ServicePrincipal", "User", "Group"] = "ServicePrincipal"
    container_registry_sku: Literal["Basic", "Standard", "Premium"] = "Premium"
    log_retention_days: int = Field(default=30, ge=30, le=730)
    deploy_registry: bool = True  # deploy the shared promotion registry with this environment
    registry_resource_group: ResourceGroupName = "rg-amlgen-registry"


class EnvConfig(Strict):
    environment: EnvironmentMeta = Field(default_factory=EnvironmentMeta)
    workspace: Workspace
    promotion_registry: PromotionRegistry | None = None
    foundation_model: FoundationModel
    component: Component
    compute: Compute
    data: Data = Field(default_factory=Data)
    finetune: dict[str, ParamValue] = Field(default_factory=dict)
    finetune_keep: list[str] = Field(default_factory=list)  # inputs whose finetune: value wins over the model's defaults
    pipeline: Pipeline = Field(default_factory=Pipeline)
    model: RegisteredModel = Field(default_factory=RegisteredModel)
    endpoint: Endpoint = Field(default_factory=Endpoint)
    deployment: Deployment
    cost: CostPolicy = Field(default_factory=CostPolicy)
    inference: Inference = Field(default_factory=Inference)
    tags: dict[str, TagValue] = Field(default_factory=dict)
    infrastructure: Infrastructure = Field(default_factory=Infrastructure)


@dataclass
class Environment:
    """One loaded environment: its name, typed config and where each key came from."""

    name: str
    config: EnvConfig
    files: list[str]
    origins: Origins = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)  # from the offline rules (generator.checks)

    @property
    def trains(self) -> bool:
        return self.config.environment.role == "train"

    def where(self, *path: str | int) -> str:
        """``file:line: key.path`` for the most specific known prefix of ``path``."""
        return where(self.origins, tuple(path), self.files[-1])

    @property
    def file(self) -> str:
        """The environment's own file (``infra/environments/<env>.yml``)."""
        return self.files[-1]

    @property
    def workspace_id(self) -> tuple[str, str, str]:
        """(subscription, resource group, workspace), lower-cased: how Azure compares them."""
        w = self.config.workspace
        return (w.subscription_id.lower(), w.resource_group.lower(), w.name.lower())

    @property
    def endpoint_name(self) -> str:
        """The online endpoint's name: explicit, or derived unique-by-construction (``names.unique_endpoint_name``)."""
        ep, w = self.config.endpoint, self.config.workspace
        if ep.name:
            return ep.name
        return unique_endpoint_name(ep.name_prefix, self.name, w.subscription_id, w.resource_group, w.name)


def where(origins: Origins, path: KeyPath, fallback: str) -> str:
    probe = path
    while probe and probe not in origins:
        probe = probe[:-1]
    file, line = origins.get(probe, (fallback, 0))
    loc = f"{file}:{line}" if line else file
    return f"{loc}: {dotted(path)}" if path else loc


# --------------------------------------------------------------------------- project layout
def environment_names(root: Path) -> list[str]:
    env_dir = root / INFRA_DIR / ENVIRONMENTS_DIR
    names = sorted(p.stem for p in env_dir.glob("*.yml"))
    stray = sorted(p.name for p in env_dir.glob("*.yaml"))
    if stray:
        raise ConfigError(f"environment files must end in .yml: {', '.join(stray)}", where=f"{INFRA_DIR}/{ENVIRONMENTS_DIR}")
    for name in names:
        if NAME_RULES["environment"].problem(name):
            raise ConfigError(
                f"environment name '{name}' must be {NAME_RULES['environment'].wording}",
                where=f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{name}.yml",
            )
    return names


def _merge(base: Any, over: Any, base_origins: Origins, over_origins: Origins, path: KeyPath, out: Origins) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value, base_origins, over_origins, path + (key,), out) if key in base else value
            if key not in base:
                _copy_origins(over_origins, path + (key,), out)
        for key in base:
            if key not in over:
                _copy_origins(base_origins, path + (key,), out)
        if path in over_origins:
            out[path] = over_origins[path]
        return merged
    _copy_origins(over_origins, path, out)
    return over


def _copy_origins(src: Origins, prefix: KeyPath, out: Origins) -> None:
    n = len(prefix)
    for key, value in src.items():
        if key[:n] == prefix:
            out[key] = value


def _load_one(root: Path, name: str) -> Environment:
    defaults_rel = f"{INFRA_DIR}/{DEFAULTS_FILE}"
    env_rel = f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{name}.yml"
    files: list[str] = []
    base: Any = {}
    base_origins: Origins = {}
    if (root / defaults_rel).is_file():
        base, base_origins = load_with_origins(root / defaults_rel, display=defaults_rel)
        files.append(defaults_rel)
        if base is None:
            base = {}
        if not isinstance(base, dict):
            raise ConfigError("must be a mapping of sections", where=f"{defaults_rel}:1")
    over, over_origins = load_with_origins(root / env_rel, display=env_rel)
    files.append(env_rel)
    if over is None:
        over = {}
    if not isinstance(over, dict):
        raise ConfigError("must be a mapping of sections", where=f"{env_rel}:1")
    origins: Origins = {}
    merged = _merge(base, over, base_origins, over_origins, (), origins)
    try:
        config = EnvConfig.model_validate(merged)
    except ValidationError as exc:
        raise _config_error(exc, origins, env_rel) from None
    env = Environment(name=name, config=config, files=files, origins=origins, raw=merged)
    from .checks import check_environment  # the offline rules (SKUs, allow-lists, component interface, names)

    check_environment(env, root)
    return env


def load_all(root: Path) -> list[Environment]:
    """Every environment, validated, plus the rules across environments (``checks.check_across``)."""
    envs = [_load_one(root, name) for name in environment_names(root)]
    from .checks import check_across

    check_across(envs)
    return envs


def load_environment(root: Path, name: str) -> Environment:
    """Load, merge and validate one environment. Raises ConfigError naming file, line and key.

    The other environments are loaded too: two environments that would manage the same Azure resource are
    refused here, naming both files, whichever of them a command names.
    """
    names = environment_names(root)
    if name not in names:
        raise ConfigError(
            f"unknown environment '{name}' (known: {', '.join(names) or 'none'}); add infra/{ENVIRONMENTS_DIR}/{name}.yml"
        )
    return next(env for env in load_all(root) if env.name == name)


_MEMBER_TAGS = {"str", "int", "float", "bool", "function-after"}  # pydantic's union-member steps in an error's loc
_PREFERRED = ("finite_number", "less_than_equal", "greater_than_equal", "less_than", "greater_than", "value_error")


def _plain_loc(err: Any) -> tuple:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in _MEMBER_TAGS)))


def _config_error(exc: ValidationError, origins: Origins, fallback: str) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = _plain_loc(errors[0])
    same = [e for e in errors if _plain_loc(e) == first]  # a union reports one error per member: take the telling one
    err = next((e for kind in _PREFERRED for e in same if e["type"] == kind), same[0])
    errors = [e for e in errors if _plain_loc(e) != first] + [err]
    loc = first
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        known = _known_fields(parent)
        import difflib

        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        msg = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(known)})" if known else "")
    elif kind == "missing":
        msg = "required value is missing"
    elif kind == "string_pattern_mismatch":
        msg = f"invalid value {value!r}: must match {err.get('ctx', {}).get('pattern', '')}"
    elif kind == "finite_number":
        msg = f"must be a finite number, got {value!r}"
    elif kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than") and isinstance(value, (int, float)):
        msg = f"{err['msg'][0].lower()}{err['msg'][1:]}, got {_short(value)}"
    elif kind in ("float_type", "int_type") and isinstance(value, str):
        hint = ""
        if re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip()):
            hint = " (YAML 1.1 reads 5e-6 as a string: write 5.0e-06)"
        elif re.fullmatch(r"[-+]?\d+(\.\d*)?", value.strip()):
            hint = " (remove the quotes)"
        msg = f"{err['msg'].lower()}, got the string {value!r}{hint}"
    elif kind == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
    else:
        shown = f", got {value!r}" if not isinstance(value, (dict, list)) else ""
        msg = f"{err['msg'][0].lower()}{err['msg'][1:]}{shown}"
    more = len({_plain_loc(e) for e in errors}) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(msg, where=where(origins, loc, fallback))


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    model: Any = EnvConfig
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _known_fields(path: KeyPath) -> list[str]:
    model = _model_at(path)
    return list(model.model_fields) if model else []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"
