"""Every Bicep file parses (pycep-parser), modules and parameter files fit together, and the secure settings
are literally in the templates. Offline stand-in for `bicep build` (whose CLI cannot be downloaded here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from generator.config import load_all
from generator.iac import infra_parameters

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"
BICEP_FILES = sorted(BICEP_DIR.rglob("*.bicep"))

# Newest API versions known to be GA for each type used (no previews except diagnosticSettings, whose newest
# version is a preview by name). A bump is a reviewed change here and in the templates.
API_VERSIONS = {
    "Microsoft.Resources/resourceGroups": "2024-03-01",
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
    "Microsoft.KeyVault/vaults": "2023-07-01",
    "Microsoft.ContainerRegistry/registries": "2023-07-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.Insights/diagnosticSettings": "2021-05-01-preview",
    "Microsoft.MachineLearningServices/workspaces": "2024-10-01",
    "Microsoft.MachineLearningServices/registries": "2024-10-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.Network/virtualNetworks": "2023-11-01",
    "Microsoft.Network/privateEndpoints": "2023-11-01",
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": "2023-11-01",
    "Microsoft.Network/privateDnsZones": "2020-06-01",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": "2020-06-01",
}


@pytest.fixture(scope="module")
def parsed(bicep_parser) -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(BICEP_DIR)): bicep_parser.parse(file_path=p) for p in BICEP_FILES}


def test_bicep_files_exist() -> None:
    names = {str(p.relative_to(BICEP_DIR)) for p in BICEP_FILES}
    assert {"main.bicep", "modules/workspace.bicep", "modules/registry.bicep", "modules/storage.bicep",
            "modules/keyvault.bicep", "modules/container-registry.bicep", "modules/monitoring.bicep",
            "modules/workspace-roles.bicep", "modules/network.bicep", "modules/registry-access.bicep"} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(BICEP_DIR)))
def test_every_bicep_file_parses(bicep_parser, path: Path) -> None:
    tree = bicep_parser.parse(file_path=path)
    assert tree.get("parameters") or tree.get("resources")


def resources(parsed: dict[str, dict[str, Any]]):
    for file, tree in parsed.items():
        for name, res in (tree.get("resources") or {}).items():
            yield file, name, res


def unwrap(res: dict[str, Any]) -> dict[str, Any]:
    """Resource body, looking through `if (...)` and `[for ...]` wrappers."""
    config = res["config"]
    while isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


def test_api_versions_are_pinned_and_current(parsed) -> None:
    used = {}
    for file, name, res in resources(parsed):
        assert res["type"] in API_VERSIONS, f"{file}: {name}: unreviewed resource type {res['type']}"
        assert res["api_version"] == API_VERSIONS[res["type"]], f"{file}: {name}: {res['type']}@{res['api_version']}"
        used[res["type"]] = res["api_version"]
        if res["type"] != "Microsoft.Insights/diagnosticSettings":
            assert "preview" not in res["api_version"], f"{file}: {name}"
    assert "Microsoft.MachineLearningServices/registries" in used


def test_modules_exist_and_get_exactly_their_parameters(parsed) -> None:
    main = parsed["main.bicep"]
    for mod_name, mod in main["modules"].items():
        path = mod["detail"]["path"]
        assert path in parsed, f"main.bicep: module {mod_name}: no file {path}"
        body = unwrap(mod)
        passed = set(body["params"])
        declared = parsed[path]["parameters"]
        unknown = passed - set(declared)
        assert not unknown, f"module {mod_name} passes unknown parameters {sorted(unknown)}"
        required = {k for k, v in declared.items() if v.get("default") is None}
        assert required <= passed, f"module {mod_name} misses {sorted(required - passed)}"


def test_rendered_parameters_match_main_bicep(parsed) -> None:
    declared = parsed["main.bicep"]["parameters"]
    required = {k for k, v in declared.items() if v.get("default") is None}
    for env in load_all(REPO):
        params = infra_parameters(env)
        assert set(params) <= set(declared), (env.name, sorted(set(params) - set(declared)))
        assert required <= set(params), (env.name, sorted(required - set(params)))
        committed = json.loads((REPO / "infra" / "params" / env.name / "main.parameters.json").read_text())
        assert {k: v["value"] for k, v in committed["parameters"].items()} == params
        for key, spec in declared.items():
            if key not in params:
                continue
            value = params[key]
            kind = spec["type"]
            expected = {"string": str, "int": int, "bool": bool, "array": list, "object": dict}[kind]
            assert isinstance(value, expected) and not (kind == "int" and isinstance(value, bool)), (env.name, key)
            for deco in spec.get("decorators") or []:
                arg = deco.get("argument")
                if deco["type"] == "min_length":
                    assert len(value) >= arg, (env.name, key, value)
                elif deco["type"] == "max_length":
                    assert len(value) <= arg, (env.name, key, value)
                elif deco["type"] == "min_value":
                    assert value >= arg, (env.name, key)
                elif deco["type"] == "max_value":
                    assert value <= arg, (env.name, key)
                elif deco["type"] == "allowed":
                    assert value in arg, (env.name, key, value)


def body_of(parsed, file: str, resource: str) -> dict[str, Any]:
    return unwrap(parsed[file]["resources"][resource])


def test_secure_defaults_are_literal(parsed) -> None:
    st = body_of(parsed, "modules/storage.bicep", "storage")["properties"]
    assert st["allowBlobPublicAccess"] is False
    assert st["minimumTlsVersion"] == "TLS1_2"
    assert st["supportsHttpsTrafficOnly"] is True
    assert st["networkAcls"]["bypass"] == "AzureServices"
    kv = body_of(parsed, "modules/keyvault.bicep", "vault")["properties"]
    assert kv["enableSoftDelete"] is True and kv["enablePurgeProtection"] is True
    assert kv["enableRbacAuthorization"] is True
    acr = body_of(parsed, "modules/container-registry.bicep", "registry")["properties"]
    assert acr["adminUserEnabled"] is False and acr["anonymousPullEnabled"] is False
    ws = body_of(parsed, "modules/workspace.bicep", "workspace")
    assert ws["identity"]["type"] == "SystemAssigned"
    assert ws["properties"]["managedNetwork"]["isolationMode"]["operator"]["operands"] == {
        "condition": "privateNetwork", "true_value": "AllowOnlyApprovedOutbound", "false_value": "Disabled"}
    for file, name in [("modules/storage.bicep", "storage"), ("modules/keyvault.bicep", "vault"),
                       ("modules/container-registry.bicep", "registry"), ("modules/workspace.bicep", "workspace"),
                       ("modules/registry.bicep", "registry")]:
        pna = body_of(parsed, file, name)["properties"]["publicNetworkAccess"]["operator"]
        assert pna["type"] == "conditional" and pna["operands"] == {
            "condition": "privateNetwork", "true_value": "Disabled", "false_value": "Enabled"}, (file, name)


def test_diagnostics_go_to_log_analytics(parsed) -> None:
    targets = set()
    for file, name, res in resources(parsed):
        if res["type"] == "Microsoft.Insights/diagnosticSettings":
            body = unwrap(res)
            assert body["properties"]["workspaceId"] == "logAnalyticsWorkspaceId", (file, name)
            targets.add(file)
    assert targets == {"modules/storage.bicep", "modules/keyvault.bicep", "modules/container-registry.bicep",
                       "modules/workspace.bicep"}


def test_role_assignments(parsed) -> None:
    text = "\n".join(p.read_text() for p in BICEP_FILES)
    for role, guid in {
        "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
        "AzureML Compute Operator": "e503ece1-11d0-4e8e-8e2c-7a6c3bf38815",
        "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        "AzureML Registry User": "1823dd4f-9b8c-4ab6-ab4e-7397a3684615",
        "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    }.items():
        assert guid in text, role
    main = parsed["main.bicep"]
    assert main["modules"]["workspaceRoles"]["config"]["condition"]  # only with a deploy principal
    assert main["modules"]["registryAccessRole"]["config"]["condition"]  # idem (tests/iac/test_registry_access.py)
    for file, name, res in resources(parsed):
        if res["type"] == "Microsoft.Authorization/roleAssignments":
            body = unwrap(res)
            assert body["name"]["function"]["type"] == "guid", (file, name)  # stable name: reruns are no-ops


def test_skip_comments_carry_a_reason() -> None:
    pattern = re.compile(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)")
    for path in BICEP_FILES:
        for line in path.read_text().splitlines():
            m = pattern.search(line)
            if m:
                assert line.strip().startswith("// checkov:skip="), (path.name, line)
                assert m.group(2) == ":" and len(m.group(3).strip()) >= 20, (path.name, m.group(1))
