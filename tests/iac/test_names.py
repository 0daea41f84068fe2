"""Derived Azure names: limits, character rules, determinism, uniqueness, and the errors that name the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.config import load_all, load_environment
from generator.errors import ConfigError
from generator.iac import RULES, check_environments, check_names, derive_names, name_suffix

REPO = Path(__file__).resolve().parents[2]


def write_env(root: Path, name: str, text: str) -> None:
    (root / "infra" / "environments" / f"{name}.yml").write_text(text, encoding="utf-8")


NEW_ENV = """\
workspace:
  subscription_id: 11111111-2222-3333-4444-555555555555
  resource_group: rg-amlgen-{name}
  name: mlw-amlgen-{name}
  location: {location}
endpoint:
  name: ultrachat-{name}
"""


def test_committed_environments_have_valid_names() -> None:
    envs = load_all(REPO)
    assert {e.name for e in envs} >= {"dev", "prod"}
    for env in envs:
        names = check_names(env)
        for key, rule in RULES.items():
            value = getattr(names, key)
            assert rule.problem(value) is None, (env.name, key, value)
        assert re.fullmatch(r"[a-z0-9]{3,24}", names.storage_account)
        assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", names.key_vault) and "--" not in names.key_vault
        assert re.fullmatch(r"[a-zA-Z0-9]{5,50}", names.container_registry)
        assert names.suffix in names.storage_account and names.suffix in names.key_vault


def test_names_are_deterministic() -> None:
    a = load_environment(REPO, "dev")
    b = load_environment(REPO, "dev")
    assert derive_names(a) == derive_names(b)
    assert name_suffix(a) == "276fec"  # sha256("<subscription>/rg-amlgen-dev/dev")[:6]: a change renames resources


def test_dev_and_prod_never_share_a_name() -> None:
    dev, prod = (check_names(load_environment(REPO, n)) for n in ("dev", "prod"))
    for key in ("storage_account", "key_vault", "container_registry", "log_analytics", "application_insights",
                "workspace", "vnet"):
        assert getattr(dev, key) != getattr(prod, key), key
    assert dev.registry == prod.registry  # the promotion registry is shared on purpose
    check_environments(load_all(REPO))


def test_same_resource_group_different_environment_gives_different_suffix(infra_project: Path) -> None:
    write_env(infra_project, "dev2", NEW_ENV.format(name="dev2", location="eastus2").replace("rg-amlgen-dev2", "rg-amlgen-dev"))
    dev = load_environment(infra_project, "dev")
    dev2 = load_environment(infra_project, "dev2")
    assert dev.config.workspace.resource_group == dev2.config.workspace.resource_group
    assert name_suffix(dev) != name_suffix(dev2)


def test_too_long_name_is_rejected_naming_the_field(infra_project: Path) -> None:
    # 20 characters is a valid environment name, but st + amlgen + 19 (hyphen dropped) + 6 = 33 > 24
    name = "integration-staging1"
    write_env(infra_project, name, NEW_ENV.format(name="x", location="eastus2"))
    env = load_environment(infra_project, name)
    with pytest.raises(ConfigError) as info:
        check_names(env)
    err = info.value
    text = str(err)
    assert "infrastructure.name_base" in text
    assert "storage account name 'stamlgenintegrationstaging1" in text
    assert "is 33 characters; Azure allows 3-24" in text
    assert f"infra/environments/{name}.yml" in text
    assert err.where is not None and err.where.startswith("infra/defaults.yml:")  # where name_base is set


def test_name_base_override_in_environment_points_at_its_line(infra_project: Path) -> None:
    write_env(
        infra_project, "qa-long",
        NEW_ENV.format(name="qa", location="eastus2") + "infrastructure:\n  name_base: amlgenft2025\n",
    )
    env = load_environment(infra_project, "qa-long")
    with pytest.raises(ConfigError) as info:
        check_names(env)  # st + amlgenft2025 + qalong + 6 = 26
    assert info.value.where == "infra/environments/qa-long.yml:9: infrastructure.name_base"


def test_character_rule_consecutive_hyphens_rejected(infra_project: Path) -> None:
    write_env(infra_project, "a--b", NEW_ENV.format(name="ab", location="eastus2"))
    with pytest.raises(ConfigError, match=r"key vault name 'kv-amlgen-a--b-[0-9a-f]{6}' breaks the key vault rule: no consecutive hyphens"):
        check_names(load_environment(infra_project, "a--b"))


def test_region_mismatch_rejected(infra_project: Path) -> None:
    write_env(infra_project, "west", NEW_ENV.format(name="west", location="westus3"))
    with pytest.raises(ConfigError) as info:
        check_names(load_environment(infra_project, "west"))
    text = str(info.value)
    assert text.startswith("infra/environments/west.yml:5: workspace.location: region 'westus3'")
    assert "[eastus2, swedencentral]" in text and "promotion_registry.locations" in text


def test_registry_name_rules(infra_project: Path) -> None:
    write_env(
        infra_project, "reg",
        NEW_ENV.format(name="reg", location="eastus2") + "promotion_registry:\n  name: ab\n  locations: [eastus2]\n",
    )
    with pytest.raises(ConfigError) as info:
        check_names(load_environment(infra_project, "reg"))
    assert "promotion_registry.name" in str(info.value) and "must be 3-33 letters" in str(info.value)


def test_bad_address_prefix_rejected(infra_project: Path) -> None:
    write_env(
        infra_project, "net",
        NEW_ENV.format(name="net", location="eastus2")
        + "infrastructure:\n  private_network: true\n  private_network_address_prefix: 10.60.0.1/24\n",
    )
    with pytest.raises(ConfigError, match="infrastructure.private_network_address_prefix: invalid address prefix"):
        check_names(load_environment(infra_project, "net"))


def test_environments_disagreeing_on_the_shared_registry_rejected(infra_project: Path) -> None:
    write_env(
        infra_project, "priv",
        NEW_ENV.format(name="priv", location="eastus2").replace("11111111-2222-3333-4444-555555555555",
                                                                "00000000-0000-0000-0000-000000000000")
        + "infrastructure:\n  private_network: true\n  deploy_registry: true\n",
    )
    with pytest.raises(ConfigError, match=r"both deploy the shared registry 'amlgen-models' but differ in privateNetwork"):
        check_environments(load_all(infra_project))
    write_env(
        infra_project, "priv",
        NEW_ENV.format(name="priv", location="eastus2") + "infrastructure:\n  deploy_registry: false\n",
    )
    check_environments(load_all(infra_project))
