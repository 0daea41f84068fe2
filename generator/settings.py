"""The schema of ``infra/``: one strict pydantic model per section (``extra="forbid"``, no type coercion,
no NaN or infinities). Loading, merging and error messages are ``generator.config``'s job."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import StringConstraints as SC

from .names import (
    AssetName,
    AssetVersion,
    ComputeName,
    DeploymentName,
    EndpointName,
    Guid,
    Region,
    RegistryAssetName,
    RegistryName,
    ResourceGroupName,
    VmSize,
    WorkspaceName,
)
from .paths import owned_problem, relative_problem

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


LabelName = Annotated[str, SC(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")]


class _Pinned(Strict):
    """A registry asset asked for by version or by label; ``amlgen lock`` pins what it resolves to."""

    version: AssetVersion | None = None
    label: LabelName | None = None  # e.g. latest: the lock records the version it resolved to

    @model_validator(mode="after")
    def _one_of(self) -> _Pinned:
        if (self.version is None) == (self.label is None):
            raise ValueError("give exactly one of version or label")
        return self


class FoundationModel(_Pinned):
    """The model the registry publishes; its facts (allow-lists, model defaults, lifecycle) live in infra/lock.yml."""

    registry: RegistryName = "azureml"
    name: RegistryAssetName
    alternatives: list[RegistryAssetName] = Field(default_factory=list)  # suggested when the model is retired


class Component(_Pinned):
    registry: RegistryName = "azureml"
    name: AssetName = "chat_completion_pipeline"


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
    allow_list_exception: str | None = None  # a reviewed reason to fine-tune on a size outside the model's allow-list

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
        problem = (relative_problem(value) or owned_problem(value)) if value is not None else None
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
    # "auto": named after the model version (v<version>), so a new model deploys next to the live one (blue/green);
    # a fixed name (the notebook's "demo") updates that deployment in place.
    name: DeploymentName | Literal["auto"] = "auto"
    instance_type: VmSize
    instance_count: int = Field(default=1, ge=1, le=MAX_NODES)
    liveness_probe: Probe = Field(default_factory=Probe)
    readiness_probe: Probe | None = None
    request_timeout_ms: int = Field(default=90000, ge=1000, le=180000)
    max_concurrent_requests_per_instance: int | None = Field(default=None, ge=1, le=1000)
    traffic: int = Field(default=100, ge=0, le=100)
    allow_list_exception: str | None = None  # a reviewed reason to serve on a size outside the model's allow-list


class RolloutStep(Strict):
    """One step of a staged rollout: mirror a share of the traffic to the new deployment, or route a share to it."""

    traffic: int | None = Field(default=None, ge=1, le=100)  # % of live traffic the new deployment answers
    mirror: int | None = Field(default=None, ge=1, le=50)  # % of traffic copied to it (answers discarded)
    wait: int = Field(default=0, ge=0, le=24 * 3600)  # seconds to watch before the next step

    @model_validator(mode="after")
    def _one(self) -> RolloutStep:
        if (self.traffic is None) == (self.mirror is None):
            raise ValueError("a rollout step sets exactly one of traffic or mirror")
        return self


class Rollout(Strict):
    """How a new deployment takes over an endpoint's traffic (after a smoke test with the sample request)."""

    steps: list[RolloutStep] = Field(default_factory=lambda: [RolloutStep(traffic=100)], min_length=1)
    keep: int = Field(default=1, ge=0, le=10)  # previous deployments kept after success (rollback needs one)
    smoke: bool = True  # score the sample request on the new deployment before it gets traffic
    expect: str = Field(default="output", min_length=1)  # a key the smoke test's JSON answer must carry

    @model_validator(mode="after")
    def _ends_at_100(self) -> Rollout:
        last = self.steps[-1]
        if last.traffic != 100:
            raise ValueError("the last rollout step must route traffic: 100")
        shares = [s.traffic for s in self.steps if s.traffic is not None]
        if shares != sorted(shares):
            raise ValueError(f"traffic steps must not decrease ({shares})")
        return self


class Gate(Strict):
    """A promotion criterion: a metric of the training run within bounds, or the source endpoint's smoke test."""

    metric: str | None = Field(default=None, min_length=1)
    min: float | None = None
    max: float | None = None
    smoke: bool = False  # the source environment's endpoint answered the sample request

    @model_validator(mode="after")
    def _shape(self) -> Gate:
        if self.smoke == (self.metric is not None):
            raise ValueError("a gate is either `metric: NAME` (with min and/or max) or `smoke: true`")
        if self.metric is not None and self.min is None and self.max is None:
            raise ValueError(f"gate on {self.metric} needs min and/or max")
        return self


class Promotion(Strict):
    """In an environment that deploys: where its models come from and what they must pass."""

    source: Annotated[str, SC(pattern=r"^[a-z][a-z0-9-]{0,19}$")]  # the training environment
    gates: list[Gate] = Field(default_factory=list)


class Promoted(Strict):
    """Written by `amlgen promote` (reviewed in the pull request); the deployment serves this registry model."""

    registry: RegistryName
    name: AssetName
    version: AssetVersion
    source_env: str
    source_job: str
    metrics: dict[str, float] = Field(default_factory=dict)
    date: Annotated[str, SC(pattern=r"^\d{4}-\d{2}-\d{2}$")]

    @field_validator("date")
    @classmethod
    def _real_date(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a real date (YYYY-MM-DD)") from None
        return value

    @property
    def asset_id(self) -> str:
        return f"azureml://registries/{self.registry}/models/{self.name}/versions/{self.version}"


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
    compute: Compute | None = None  # training environments (role: train)
    data: Data = Field(default_factory=Data)
    finetune: dict[str, ParamValue] = Field(default_factory=dict)
    finetune_keep: list[str] = Field(default_factory=list)  # inputs whose finetune: value wins over the model's defaults
    pipeline: Pipeline = Field(default_factory=Pipeline)
    model: RegisteredModel = Field(default_factory=RegisteredModel)
    endpoint: Endpoint = Field(default_factory=Endpoint)
    deployment: Deployment
    cost: CostPolicy = Field(default_factory=CostPolicy)
    rollout: Rollout = Field(default_factory=Rollout)
    promotion: Promotion | None = None  # deploying environments: the source and the gates
    promoted: Promoted | None = None  # deploying environments: written by `amlgen promote`
    inference: Inference = Field(default_factory=Inference)
    tags: dict[str, TagValue] = Field(default_factory=dict)
    infrastructure: Infrastructure = Field(default_factory=Infrastructure)
