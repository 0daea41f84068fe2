"""The resource kinds amlgen manages: one table, read by render, validate, plan, apply and the Azure module.

Each row says everything amlgen knows about one kind: which template renders it into which spec file, the
spec's ``$schema`` and the azure-ai-ml ``load_*`` that reads it, how the SDK reads, creates and deletes it, what
it depends on (apply order), and how plan compares it with the live resource (fields normalised the way the
service normalises them, fields the service owns, fields that cannot change in place).

Adding a kind is one row here (with its ``instances`` function: what to render for an environment) plus one
template in ``templates/``.

Rows are in dependency order; ``render`` loops over them the way Helm renders a chart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_BASE = "https://azuremlschemas.azureedge.net/latest/"


@dataclass(frozen=True)
class Ref:
    """The identity of one live resource."""

    kind: str
    name: str
    version: str | None = None
    endpoint: str | None = None  # deployments: the endpoint they belong to

    @property
    def shown(self) -> str:
        text = f"{self.name}:{self.version}" if self.version else self.name
        return f"{self.endpoint}/{text}" if self.endpoint else text


@dataclass(frozen=True)
class Instance:
    """One spec file to render: its file name and the extra template variables."""

    file: str
    vars: Mapping[str, Any] = field(default_factory=dict)


def casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


@dataclass(frozen=True)
class Kind:
    name: str  # compute | data | job | model | endpoint | deployment | traffic
    template: str  # templates/<template>
    file: str  # spec file name; a pattern with {key} for kinds with several instances
    schema: str  # the $schema file name (under SCHEMA_BASE)
    loader: str  # the azure.ai.ml load_* function
    deps: tuple[str, ...]  # kinds that must be applied first
    get: Callable[[Any, Ref], Any]  # (MLClient, ref) -> entity; ResourceNotFoundError when missing
    put: Callable[[Any, Any], Any]  # (MLClient, entity) -> entity, waiting for any long-running operation
    delete: Callable[[Any, Ref], Any] | None = None
    instances: Callable[[dict[str, Any]], list[Instance]] = lambda ctx: []
    action: str = "create/update"  # how the put is described in errors
    versioned: bool = False  # immutable versions: a changed spec is a new version, never an update
    run_once: bool = False  # jobs: submitted once under a content-derived name, waited for, never updated
    routing: bool = False  # traffic: the endpoint again, with its traffic split, applied last
    compare: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)  # field -> normaliser
    ignore: frozenset[str] = frozenset()  # fields the service derives or another kind manages
    replace_on: frozenset[str] = frozenset()  # fields the service refuses to change in place
    keys: tuple[str, ...] = ()  # the values {key} takes in ``file`` (e.g. data roles); () for one file
    # billed by the hour: (size field, low-count field, high-count field, default low, default high); plan's costs
    billed: tuple[str, str, str, int, int] | None = None
    endpoint_part: bool = False  # lives and dies with the online endpoint (expiry, reap)

    @property
    def schema_url(self) -> str:
        return SCHEMA_BASE + self.schema

    def files(self) -> list[str]:
        """Every file name this kind can render (the allowed names in a managed specs folder)."""
        return [self.file.format(key=k) for k in self.keys] if self.keys else [self.file]

    def ref(self, spec: Mapping[str, Any]) -> Ref:
        """The live identity a spec describes."""
        version = spec.get("version") if self.versioned else None
        return Ref(self.name, str(spec.get("name") or ""), None if version is None else str(version),
                   str(spec.get("endpoint_name") or "") or None)


# --------------------------------------------------------------------------- what each kind renders
def _compute(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance("compute.yml")] if ctx["trains"] and not ctx["compute"].serverless else []


def _data(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance(f"data-{a['role']}.yml", {"asset": a}) for a in ctx["assets"]] if ctx["trains"] else []


def _job(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance("pipeline-job.yml")] if ctx["trains"] else []


def _model(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance("model.yml")] if ctx["trains"] else []


def _endpoint(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance("endpoint.yml", {"with_traffic": False})]


def _deployment(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance("deployment.yml")] if ctx["deployment"].get("model") or ctx["trains"] else []


def _traffic(ctx: dict[str, Any]) -> list[Instance]:
    return [Instance("endpoint-traffic.yml", {"with_traffic": True})] if _deployment(ctx) else []


# --------------------------------------------------------------------------- the table
KINDS: tuple[Kind, ...] = (
    Kind(
        "compute", "compute.yml.j2", "compute.yml", "amlCompute.schema.json", "load_compute", (),
        get=lambda ml, r: ml.compute.get(r.name),
        put=lambda ml, e: ml.compute.begin_create_or_update(e).result(),
        delete=lambda ml, r: ml.compute.begin_delete(r.name).result(),
        instances=_compute,
        compare={"size": casefold},  # the service answers vmSize upper-cased (STANDARD_NC24ADS_A100_V4)
        replace_on=frozenset({"size", "tier"}),  # vmSize and vmPriority cannot change on an existing cluster
        billed=("size", "min_instances", "max_instances", 0, 1),  # idle at min nodes, scaled out at max
    ),
    Kind(
        "data", "data.yml.j2", "data-{key}.yml", "data.schema.json", "load_data", (),
        get=lambda ml, r: ml.data.get(r.name, version=r.version),
        put=lambda ml, e: ml.data.create_or_update(e),
        instances=_data, versioned=True, keys=("train", "validation", "test"),
    ),
    Kind(
        "job", "pipeline-job.yml.j2", "pipeline-job.yml", "pipelineJob.schema.json", "load_job", ("compute", "data"),
        get=lambda ml, r: ml.jobs.get(r.name),
        put=lambda ml, e: ml.jobs.create_or_update(e),
        instances=_job, action="submit", run_once=True,
    ),
    Kind(
        "model", "model.yml.j2", "model.yml", "model.schema.json", "load_model", ("job",),
        get=lambda ml, r: ml.models.get(r.name, version=r.version),
        put=lambda ml, e: ml.models.create_or_update(e),
        instances=_model, versioned=True,
        ignore=frozenset({"path"}),  # the service resolves azureml://jobs/<job>/outputs/... to a datastore path
    ),
    Kind(
        "endpoint", "endpoint.yml.j2", "endpoint.yml", "managedOnlineEndpoint.schema.json", "load_online_endpoint", (),
        get=lambda ml, r: ml.online_endpoints.get(r.name),
        put=lambda ml, e: ml.online_endpoints.begin_create_or_update(e).result(),
        delete=lambda ml, r: ml.online_endpoints.begin_delete(name=r.name).result(),
        instances=_endpoint,
        ignore=frozenset({"traffic", "mirror_traffic"}),  # routed by the traffic kind, after the deployment
        endpoint_part=True,
    ),
    Kind(
        "deployment", "deployment.yml.j2", "deployment.yml", "managedOnlineDeployment.schema.json",
        "load_online_deployment", ("endpoint", "model"),
        get=lambda ml, r: ml.online_deployments.get(r.name, endpoint_name=r.endpoint),
        put=lambda ml, e: ml.online_deployments.begin_create_or_update(e).result(),
        delete=lambda ml, r: ml.online_deployments.begin_delete(name=r.name, endpoint_name=r.endpoint).result(),
        instances=_deployment,
        compare={"instance_type": casefold},
        billed=("instance_type", "instance_count", "instance_count", 1, 1),  # its instances, always on
        endpoint_part=True,
    ),
    Kind(
        "traffic", "endpoint.yml.j2", "endpoint-traffic.yml", "managedOnlineEndpoint.schema.json",
        "load_online_endpoint", ("deployment",),
        get=lambda ml, r: ml.online_endpoints.get(r.name),
        put=lambda ml, e: ml.online_endpoints.begin_create_or_update(e).result(),
        instances=_traffic, action="traffic update", routing=True, endpoint_part=True,
    ),
)
BY_NAME: dict[str, Kind] = {k.name: k for k in KINDS}
ORDER: tuple[str, ...] = tuple(k.name for k in KINDS)


def kind(name: str) -> Kind:
    return BY_NAME[name]


def for_file(filename: str) -> Kind | None:
    """The kind whose spec file this is (a managed specs folder holds only these names)."""
    for k in KINDS:
        if filename in k.files():
            return k
    return None


def for_spec(data: Mapping[str, Any]) -> Kind | None:
    """The kind of a spec read from anywhere, by its ``$schema`` (an endpoint with a traffic split is routing)."""
    schema = str(data.get("$schema", ""))
    candidates = [k for k in KINDS if schema.endswith("/" + k.schema)]
    if not candidates:
        fallback = {"amlcompute": "compute", "pipeline": "job"}.get(str(data.get("type", "")))
        return BY_NAME[fallback] if fallback else None
    if len(candidates) > 1:
        wanted = "traffic" in data
        candidates = [k for k in candidates if k.routing == wanted] or candidates
    return candidates[0]

