"""Registry access for promotion: the deploy identity of the environment that shares models into the promotion
registry (dev, which deploys it) gets write access (AzureML Registry User), every other environment's deploy
identity read access (Reader), scoped to the registry in its own resource group/subscription; nothing without a
principal. The templates are parsed with pycep-parser and evaluated for each environment's rendered parameters.

Role ids: learn.microsoft.com/azure/role-based-access-control/built-in-roles (AI + machine learning, General);
which role for what: learn.microsoft.com/azure/machine-learning/how-to-manage-registries ("Add users to the
registry": Reader to use assets, registries/assets/write+delete to create them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from bicep_eval import BicepEval, Call, Symbol, body

from generator.config import load_all
from generator.iac import infra_parameters

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
REGISTRY_USER = "1823dd4f-9b8c-4ab6-ab4e-7397a3684615"
PRINCIPAL = "11111111-2222-3333-4444-555555555555"
OTHER_SUB = "99999999-0000-0000-0000-000000000001"


@pytest.fixture(scope="module")
def main_tree(bicep_parser) -> dict[str, Any]:
    return bicep_parser.parse(file_path=BICEP_DIR / "main.bicep")


@pytest.fixture(scope="module")
def access_tree(bicep_parser) -> dict[str, Any]:
    return bicep_parser.parse(file_path=BICEP_DIR / "modules" / "registry-access.bicep")


@pytest.fixture(scope="module")
def envs() -> dict[str, Any]:
    return {env.name: env for env in load_all(REPO)}


def rendered(envs, name: str, **overrides: Any) -> tuple[dict[str, Any], str]:
    env = envs[name]
    params = infra_parameters(env)
    params.update(overrides)
    return params, env.config.workspace.subscription_id


def deployed_access(main_tree, envs, env: str, **overrides: Any) -> dict[str, Any] | None:
    """What main.bicep deploys through the registry-access module for ``env``: None when it is skipped."""
    params, sub = rendered(envs, env, **overrides)
    ev = BicepEval(main_tree, params, subscription_id=sub)
    condition, mod = body(main_tree["modules"]["registryAccessRole"])
    assert condition is not None, "the registry role must be conditional (no principal: no assignment)"
    if not ev.ev(condition):
        return None
    return {"scope": ev.ev(mod["scope"]), "params": ev.ev(mod["params"]), "dependsOn": mod.get("dependsOn"),
            "output": ev.ev(main_tree["outputs"]["registryAccess"]["value"])}


def role_assignment(access_tree, module_params: dict[str, Any], sub: str) -> tuple[dict[str, Any], BicepEval]:
    ev = BicepEval(access_tree, module_params, subscription_id=sub)
    condition, res = body(access_tree["resources"]["registryRole"])
    assert condition is None
    assert access_tree["resources"]["registryRole"]["type"] == "Microsoft.Authorization/roleAssignments"
    return {"name": ev.ev(res["name"]), "scope": ev.ev(res["scope"]),
            **{k: ev.ev(v) for k, v in res["properties"].items()}}, ev


def test_source_environment_gets_registry_user(main_tree, access_tree, envs) -> None:
    params, sub = rendered(envs, "dev", deployPrincipalId=PRINCIPAL)
    assert params["deployRegistry"] is True  # dev deploys the registry and shares models into it
    got = deployed_access(main_tree, envs, "dev", deployPrincipalId=PRINCIPAL)
    assert got is not None
    assert got["scope"] == Call("resourceGroup", (sub, params["registryResourceGroupName"]))
    assert got["params"]["access"] == "write" and got["output"] == "write"
    assert got["params"]["principalId"] == PRINCIPAL
    assert got["params"]["registryName"] == params["registryName"]
    assert got["dependsOn"] == ["registry"]  # after the registry this deployment creates
    ra, _ = role_assignment(access_tree, got["params"], sub)
    assert ra["roleDefinitionId"] == f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{REGISTRY_USER}"
    assert ra["principalId"] == PRINCIPAL and ra["principalType"] == "ServicePrincipal"
    assert ra["scope"] == Symbol("registry")
    assert ra["name"] == Call("guid", (Symbol("registry.id"), PRINCIPAL, REGISTRY_USER))


def test_target_environment_gets_reader(main_tree, access_tree, envs) -> None:
    params, sub = rendered(envs, "prod", deployPrincipalId=PRINCIPAL, deployPrincipalType="Group")
    assert params["deployRegistry"] is False
    got = deployed_access(main_tree, envs, "prod", deployPrincipalId=PRINCIPAL, deployPrincipalType="Group")
    assert got is not None
    assert got["scope"] == Call("resourceGroup", (sub, params["registryResourceGroupName"]))
    assert got["params"]["access"] == "read" and got["output"] == "read"
    ra, _ = role_assignment(access_tree, got["params"], sub)
    assert ra["roleDefinitionId"].endswith(f"/roleDefinitions/{READER}")
    assert ra["principalType"] == "Group"
    assert ra["name"] == Call("guid", (Symbol("registry.id"), PRINCIPAL, READER))


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_no_assignment_without_principal(main_tree, envs, env: str) -> None:
    params, _ = rendered(envs, env)
    assert params["deployPrincipalId"] == ""  # as committed
    assert deployed_access(main_tree, envs, env) is None
    ev = BicepEval(main_tree, params, subscription_id="s")
    assert ev.ev(main_tree["outputs"]["registryAccess"]["value"]) == "none"


def test_explicit_access_overrides_the_default(main_tree, envs) -> None:
    assert deployed_access(main_tree, envs, "prod", deployPrincipalId=PRINCIPAL, registryAccess="none") is None
    got = deployed_access(main_tree, envs, "dev", deployPrincipalId=PRINCIPAL, registryAccess="read")
    assert got is not None and got["params"]["access"] == "read"
    got = deployed_access(main_tree, envs, "prod", deployPrincipalId=PRINCIPAL, registryAccess="write")
    assert got is not None and got["params"]["access"] == "write"
    allowed = next(d["argument"] for d in main_tree["parameters"]["registryAccess"]["decorators"] if d["type"] == "allowed")
    assert sorted(allowed) == ["auto", "none", "read", "write"]
    assert main_tree["parameters"]["registryAccess"]["default"] == "auto"


def test_registry_in_another_subscription(main_tree, access_tree, envs) -> None:
    params, _ = rendered(envs, "prod", deployPrincipalId=PRINCIPAL, registrySubscriptionId=OTHER_SUB)
    got = deployed_access(main_tree, envs, "prod", deployPrincipalId=PRINCIPAL, registrySubscriptionId=OTHER_SUB)
    assert got is not None
    assert got["scope"] == Call("resourceGroup", (OTHER_SUB, params["registryResourceGroupName"]))
    # the role definition id resolves in the subscription the module is deployed to
    ra, _ = role_assignment(access_tree, got["params"], OTHER_SUB)
    assert ra["roleDefinitionId"] == f"/subscriptions/{OTHER_SUB}/providers/Microsoft.Authorization/roleDefinitions/{READER}"
    # the environment that creates the registry creates it in its own subscription: the override cannot move it
    params, sub = rendered(envs, "dev", deployPrincipalId=PRINCIPAL, registrySubscriptionId=OTHER_SUB)
    got = deployed_access(main_tree, envs, "dev", deployPrincipalId=PRINCIPAL, registrySubscriptionId=OTHER_SUB)
    assert got is not None and got["scope"] == Call("resourceGroup", (sub, params["registryResourceGroupName"]))


def test_new_parameters_have_safe_defaults(main_tree, envs) -> None:
    """Parameter files rendered before these parameters existed stay valid and mean 'same subscription, auto'."""
    declared = main_tree["parameters"]
    assert declared["registrySubscriptionId"]["default"] == ""
    for name in envs:
        params, _ = rendered(envs, name)
        assert "registryAccess" not in params and "registrySubscriptionId" not in params


def test_access_module_contract(access_tree) -> None:
    params = access_tree["parameters"]
    allowed = next(d["argument"] for d in params["access"]["decorators"] if d["type"] == "allowed")
    assert sorted(allowed) == ["read", "write"] and params["access"]["default"] is None  # no silent default
    assert any(d["type"] == "min_length" and d["argument"] == 1 for d in params["principalId"]["decorators"])
    registry = access_tree["resources"]["registry"]
    assert registry["existing"] is True
    assert registry["type"] == "Microsoft.MachineLearningServices/registries"
    assert registry["config"]["name"] == "registryName"
    for access, role in [("read", READER), ("write", REGISTRY_USER)]:
        ev = BicepEval(access_tree, {"registryName": "reg", "principalId": PRINCIPAL, "access": access},
                       subscription_id="s")
        assert ev.var("roleId") == role
        assert ev.ev(access_tree["outputs"]["roleDefinitionId"]["value"]) == role


def test_registry_roles_only_through_the_access_module(bicep_parser) -> None:
    """The registry module itself assigns nothing (one place decides who may use the registry), and no role
    assignment anywhere gets a random name."""
    registry = bicep_parser.parse(file_path=BICEP_DIR / "modules" / "registry.bicep")
    types = {r["type"] for r in registry["resources"].values()}
    assert "Microsoft.Authorization/roleAssignments" not in types
    for path in BICEP_DIR.rglob("*.bicep"):
        text = path.read_text()
        assert not re.search(r"\b(newGuid|utcNow)\s*\(", text), path.name


def test_write_assignment_keeps_its_previous_name(access_tree) -> None:
    """Before this module, registry.bicep named the AzureML Registry User assignment
    guid(registry.id, deployPrincipalId, registryUserRole); the same name means a redeploy updates that
    assignment instead of failing with RoleAssignmentExists."""
    ra, _ = role_assignment(access_tree, {"registryName": "reg", "principalId": PRINCIPAL, "access": "write"}, "s")
    assert ra["name"] == Call("guid", (Symbol("registry.id"), PRINCIPAL, REGISTRY_USER))
