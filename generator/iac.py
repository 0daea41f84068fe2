"""Workspace infrastructure as code: parameters for ``infra/bicep/main.bicep``, one set per environment.

The Bicep templates in ``infra/bicep/`` are hand-written and reviewed; what differs between environments is
only their parameter values, rendered here from ``infra/defaults.yml`` + ``infra/environments/<env>.yml``:

    from generator.iac import render_infra, check_names
    names = check_names(env)      # derived Azure names, validated (raises ConfigError naming file and field)
    files = render_infra(env)     # {"infra/params/<env>/main.parameters.json": ..., ".../deploy.sh": ..., ...}

``render_infra`` is pure (no I/O, no clock, no randomness): the same environment gives the same bytes. Globally
unique names (storage account, key vault, container registry) get a deterministic suffix, the first
``SUFFIX_LENGTH`` hex digits of sha256(subscription/resource group/environment), so two environments never
share a name and a re-render never renames anything. The writer (``generator.writer.write_files``) owns
``infra/params/<env>/`` as a whole.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import asdict, dataclass
from typing import Any

from .config import Environment
from .errors import ConfigError
from .names import RULES as NAME_RULES
from .names import stable_suffix
from .paths import DEFAULTS_FILE, ENVIRONMENTS_DIR, INFRA_DIR

PARAMS_DIR = f"{INFRA_DIR}/params"
BICEP_MAIN = f"{INFRA_DIR}/bicep/main.bicep"
PARAMETERS_FILE = "main.parameters.json"
DEPLOY_SCRIPT = "deploy.sh"
NOTE_FILE = "README.md"
SUFFIX_LENGTH = 6
ARM_PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"


# The Azure naming rules of every derived infrastructure name (one home: generator.names).
RULES = {key: NAME_RULES[key] for key in ("storage_account", "key_vault", "container_registry", "log_analytics",
                                            "application_insights", "vnet", "workspace", "registry")}


@dataclass(frozen=True)
class InfraNames:
    """Every Azure resource name of one environment's infrastructure."""

    suffix: str
    workspace: str
    storage_account: str
    key_vault: str
    container_registry: str
    log_analytics: str
    application_insights: str
    vnet: str
    registry: str


def name_suffix(env: Environment) -> str:
    """Deterministic per-environment suffix: sha256 of subscription/resource group/environment name."""
    ws = env.config.workspace
    return stable_suffix(ws.subscription_id, ws.resource_group, env.name, length=SUFFIX_LENGTH)


def derive_names(env: Environment) -> InfraNames:
    """The names, derived but not checked (see ``check_names``)."""
    cfg = env.config
    base = cfg.infrastructure.name_base
    suffix = name_suffix(env)
    compact = env.name.replace("-", "")
    return InfraNames(
        suffix=suffix,
        workspace=cfg.workspace.name,
        storage_account=f"st{base}{compact}{suffix}",
        key_vault=f"kv-{base}-{env.name}-{suffix}",
        container_registry=f"cr{base}{compact}{suffix}",
        log_analytics=f"log-{base}-{env.name}-{suffix}",
        application_insights=f"appi-{base}-{env.name}-{suffix}",
        vnet=f"vnet-{base}-{env.name}",
        registry=cfg.promotion_registry.name if cfg.promotion_registry else "",
    )


def _env_file(env: Environment) -> str:
    return f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{env.name}.yml"


def check_names(env: Environment) -> InfraNames:
    """Derive and validate every name and the region layout of ``env``.

    Raises ConfigError (``file:line: field: message``) when a derived name would break an Azure limit or
    character rule, when the promotion registry is missing, or when the workspace region is not one of the
    registry's regions.
    """
    cfg = env.config
    infra = cfg.infrastructure
    if cfg.promotion_registry is None:
        raise ConfigError(
            f"environment '{env.name}' has no promotion registry; infra/bicep needs one (set promotion_registry "
            f"in {INFRA_DIR}/{DEFAULTS_FILE} or {_env_file(env)})",
            where=env.where("promotion_registry"),
        )
    names = derive_names(env)
    fields = {  # which setting to change when a name is wrong
        "workspace": ("workspace", "name"),
        "registry": ("promotion_registry", "name"),
    }
    for key, rule in RULES.items():
        value = getattr(names, key)
        problem = rule.problem(value)
        if problem is None:
            continue
        path = fields.get(key, ("infrastructure", "name_base"))
        if key in fields:
            hint = f"change {'.'.join(path)}"
        else:
            hint = (
                f"shorten infrastructure.name_base ('{infra.name_base}') or the environment name "
                f"'{env.name}' ({_env_file(env)})"
            )
        raise ConfigError(f"{rule.kind} name '{value}' {problem}; {hint}", where=env.where(*path))
    locations = cfg.promotion_registry.locations
    if cfg.workspace.location not in locations:
        raise ConfigError(
            f"region '{cfg.workspace.location}' of environment '{env.name}' is not one of the promotion "
            f"registry's locations [{', '.join(locations)}] ({env.where('promotion_registry', 'locations')}); "
            "add the region there or move the workspace",
            where=env.where("workspace", "location"),
        )
    if len(set(locations)) != len(locations):
        raise ConfigError("lists a region twice", where=env.where("promotion_registry", "locations"))
    try:
        net = ipaddress.ip_network(infra.private_network_address_prefix, strict=True)
    except ValueError as exc:
        raise ConfigError(
            f"invalid address prefix: {exc}", where=env.where("infrastructure", "private_network_address_prefix")
        ) from None
    if not (net.version == 4 and 8 <= net.prefixlen <= 28):
        raise ConfigError(
            f"address prefix {net} must be an IPv4 range from /8 to /28",
            where=env.where("infrastructure", "private_network_address_prefix"),
        )
    return names


def _tag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shared_tags(env: Environment) -> dict[str, str]:
    """Tags set in infra/defaults.yml only: identical for every environment that deploys the shared registry."""
    defaults = f"{INFRA_DIR}/{DEFAULTS_FILE}"
    out = {}
    for key, value in env.config.tags.items():
        origin = env.origins.get(("tags", key))
        if origin is not None and origin[0] == defaults:
            out[key] = _tag_value(value)
    return dict(sorted(out.items()))


def infra_parameters(env: Environment) -> dict[str, Any]:
    """Parameter values of ``infra/bicep/main.bicep`` for ``env`` (validated; sorted by name)."""
    names = check_names(env)
    cfg = env.config
    infra = cfg.infrastructure
    registry = cfg.promotion_registry
    assert registry is not None  # check_names
    params: dict[str, Any] = {
        "environmentName": env.name,
        "location": cfg.workspace.location,
        "resourceGroupName": cfg.workspace.resource_group,
        "workspaceName": names.workspace,
        "storageAccountName": names.storage_account,
        "keyVaultName": names.key_vault,
        "containerRegistryName": names.container_registry,
        "containerRegistrySku": infra.container_registry_sku,
        "applicationInsightsName": names.application_insights,
        "logAnalyticsName": names.log_analytics,
        "logRetentionDays": infra.log_retention_days,
        "privateNetwork": infra.private_network,
        "vnetName": names.vnet,
        "vnetAddressPrefix": infra.private_network_address_prefix,
        "deployPrincipalId": (infra.deploy_principal_id or "").lower(),
        "deployPrincipalType": infra.deploy_principal_type,
        "deployRegistry": infra.deploy_registry,
        "registryName": names.registry,
        "registryResourceGroupName": infra.registry_resource_group,
        "registryLocations": list(registry.locations),
        "registryTags": _shared_tags(env),
        "tags": {k: _tag_value(v) for k, v in sorted(cfg.tags.items())},
    }
    return dict(sorted(params.items()))


def registry_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that shape the shared registry (must agree between environments that deploy it)."""
    keys = ("registryName", "registryResourceGroupName", "registryLocations", "registryTags", "privateNetwork")
    return {k: params[k] for k in keys}


def parameters_json(params: dict[str, Any]) -> str:
    """ARM deploymentParameters JSON: sorted keys, two-space indent, trailing newline."""
    doc = {
        "$schema": ARM_PARAMETERS_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {name: {"value": value} for name, value in params.items()},
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def deploy_command(env: Environment, params_path: str) -> list[str]:
    """The ``az deployment sub create`` argv (without the script's pass-through ``"$@"``)."""
    ws = env.config.workspace
    return [
        "az", "deployment", "sub", "create",
        "--subscription", ws.subscription_id,
        "--name", f"amlgen-{env.name}-infra",
        "--location", ws.location,
        "--template-file", BICEP_MAIN,
        "--parameters", f"@{params_path}",
    ]  # fmt: skip


def _header(env: Environment, comment: str) -> list[str]:
    sources = " + ".join(env.files)
    return [
        f"{comment} Generated by amlgen from {sources}, do not edit.",
        f"{comment} Change those files and run `amlgen render --env {env.name}`.",
    ]


def deploy_script(env: Environment, names: InfraNames, params_path: str) -> str:
    ws = env.config.workspace
    argv = deploy_command(env, params_path)
    lines = ["#!/usr/bin/env bash", *_header(env, "#")]
    lines += [
        "#",
        f"# Provisions environment '{env.name}': resource group {ws.resource_group} ({ws.location}) with Azure ML",
        f"# workspace {names.workspace} and its dependencies"
        + (f", and the shared registry {names.registry}." if env.config.infrastructure.deploy_registry else "."),
        "# Extra arguments go to az, e.g. `bash " + f"{PARAMS_DIR}/{env.name}/{DEPLOY_SCRIPT} --what-if`.",
        "set -euo pipefail",
        'cd "$(dirname "$0")/../../.."',
    ]
    parts = [argv[:4]] + [argv[i : i + 2] for i in range(4, len(argv), 2)]
    body = [" ".join(shlex.quote(a) for a in part) for part in parts] + ['"$@"']
    lines.append(" \\\n  ".join(body))
    return "\n".join(lines) + "\n"


def note_file(env: Environment, names: InfraNames, params: dict[str, Any]) -> str:
    rows = [(k, v) for k, v in asdict(names).items() if k != "suffix"]
    out = [
        f"<!-- Generated by amlgen from {' + '.join(env.files)}, do not edit. -->",
        f"# Infrastructure parameters of environment `{env.name}`",
        "",
        f"Generated by amlgen from {' + '.join(f'`{f}`' for f in env.files)}; do not edit these files.",
        f"Change those files and run `amlgen render --env {env.name}`. Provisioning: `docs/provisioning.md`.",
        "",
        f"- `{PARAMETERS_FILE}`: parameters of `{BICEP_MAIN}` (ARM deploymentParameters JSON)",
        f"- `{DEPLOY_SCRIPT}`: the `az deployment sub create` command that applies them",
        "",
        f"Name suffix `{names.suffix}` = first {SUFFIX_LENGTH} hex digits of "
        f"sha256(`<subscription>/<resource group>/{env.name}`).",
        "",
        "| resource | name |",
        "|---|---|",
        *(f"| {key.replace('_', ' ')} | `{value}` |" for key, value in rows),
        f"| resource group | `{params['resourceGroupName']}` |",
        f"| registry resource group | `{params['registryResourceGroupName']}` |",
        "",
    ]
    return "\n".join(out)


def params_dir(env_name: str) -> str:
    return f"{PARAMS_DIR}/{env_name}"


def render_infra(env: Environment) -> dict[str, str]:
    """Project-relative path -> text of everything generated under ``infra/params/<env>/``. Pure."""
    params = infra_parameters(env)
    names = check_names(env)
    directory = params_dir(env.name)
    params_path = f"{directory}/{PARAMETERS_FILE}"
    return {
        params_path: parameters_json(params),
        f"{directory}/{DEPLOY_SCRIPT}": deploy_script(env, names, params_path),
        f"{directory}/{NOTE_FILE}": note_file(env, names, params),
    }


def check_environments(envs: list[Environment]) -> None:
    """Checks across environments: no two share a derived name, and every environment that deploys the shared
    registry deploys it identically (same name, resource group, regions, shared tags, network access)."""
    seen: dict[str, str] = {}
    unique_fields = ("storage_account", "key_vault", "container_registry")
    for env in envs:
        names = check_names(env)
        for key in unique_fields:
            value = getattr(names, key)
            other = seen.get(value)
            if other is not None and other != env.name:
                raise ConfigError(
                    f"{RULES[key].kind} name '{value}' is derived for both '{other}' and '{env.name}'",
                    where=env.where("infrastructure", "name_base"),
                )
            seen[value] = env.name
    deployers = [
        (env, {**registry_parameters(infra_parameters(env)), "subscription": env.config.workspace.subscription_id.lower()})
        for env in envs
    ]
    deployers = [(env, p) for env, p in deployers if env.config.infrastructure.deploy_registry]
    by_name: dict[str, tuple[Environment, dict[str, Any]]] = {}
    for env, reg in deployers:
        first = by_name.setdefault(reg["registryName"], (env, reg))
        if first[1] != reg:
            differing = sorted(k for k in reg if reg[k] != first[1][k])
            raise ConfigError(
                f"environments '{first[0].name}' and '{env.name}' both deploy the shared registry "
                f"'{reg['registryName']}' but differ in {', '.join(differing)}; make them agree or set "
                "infrastructure.deploy_registry: false in one of them",
                where=env.where("workspace", "subscription_id") if differing == ["subscription"] else env.where("infrastructure"),
            )
