"""Azure naming rules: the one home of every name amlgen checks or derives.

Each rule is a ``NameRule`` (length range, character pattern, wording). ``config`` builds its pydantic field
types from them (``NAME_TYPES``), ``iac`` checks the derived infrastructure names with them, ``validate`` and the
emulator use the same objects. Where the SDK or the service publishes a rule, the test suite holds ours against
it (``tests/names``): endpoint and deployment names against azure-ai-ml's ``EndpointConfigurations``, asset names
against the REST specification's path pattern.

Derived names that must be unique beyond one workspace (an online endpoint's name is global in its region, a
storage account's globally) get a deterministic suffix (``stable_suffix``): a hash of where the resource lives,
so two environments never collide and a re-render never renames anything.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator


@dataclass(frozen=True)
class NameRule:
    """An Azure naming rule: a length range, a character pattern and its wording for error messages."""

    kind: str
    min_len: int
    max_len: int
    pattern: str  # matched with re.fullmatch against the whole name
    wording: str
    no_double_hyphen: bool = False

    def problem(self, name: str) -> str | None:
        """Why ``name`` breaks the rule, or None."""
        if not isinstance(name, str):
            return f"must be a string, got {type(name).__name__}"
        if not self.min_len <= len(name) <= self.max_len:
            return f"is {len(name)} characters; Azure allows {self.min_len}-{self.max_len}"
        if not re.fullmatch(self.pattern, name):
            return f"breaks the {self.kind} rule: {self.wording}"
        if self.no_double_hyphen and "--" in name:
            return f"breaks the {self.kind} rule: no consecutive hyphens"
        return None

    def ok(self, name: str) -> bool:
        return self.problem(name) is None

    def message(self, name: str) -> str:
        """The error text used for configuration values: ``invalid name 'x': must be <wording>``."""
        return f"invalid name {name!r}: must be {self.wording}"


RULES: dict[str, NameRule] = {
    # ---- workspace-level resources amlgen creates (specs/)
    "endpoint": NameRule(  # azure-ai-ml EndpointConfigurations: 3-32, NAME_REGEX_PATTERN
        "online endpoint", 3, 32, r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?",
        "3-32 letters, digits or hyphens, starting with a letter and not ending with a hyphen",
    ),
    "deployment": NameRule(
        "online deployment", 3, 32, r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?",
        "3-32 letters, digits or hyphens, starting with a letter and not ending with a hyphen",
    ),
    "compute": NameRule(  # AmlCompute: 2-16, letter first, letters digits hyphens
        "compute cluster", 2, 16, r"[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]",
        "2-16 letters, digits or hyphens, starting with a letter and not ending with a hyphen",
    ),
    "asset": NameRule(  # REST spec: PUT path pattern of asset containers ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$
        "asset", 1, 255, r"[a-zA-Z0-9][a-zA-Z0-9_-]*",
        "1-255 letters, digits, '-' or '_', starting with a letter or digit",
    ),
    "registry_asset": NameRule(  # names of registry assets we only reference (Phi-3.5-mini-instruct has dots)
        "registry asset", 1, 255, r"[a-zA-Z0-9][a-zA-Z0-9._-]*",
        "letters, digits, '.', '-', '_' (max 255), starting with a letter or digit",
    ),
    "asset_version": NameRule(
        "asset version", 1, 30, r"[a-zA-Z0-9][a-zA-Z0-9._-]*",
        "letters, digits, '.', '-', '_' (max 30), starting with a letter or digit",
    ),
    "job": NameRule(
        "job", 1, 255, r"[a-zA-Z0-9][a-zA-Z0-9_-]*", "1-255 letters, digits, '-' or '_', starting with a letter or digit",
    ),
    # ---- Azure resources (infra/)
    "workspace": NameRule(
        "Azure ML workspace", 3, 33, r"[a-zA-Z0-9][a-zA-Z0-9_-]*",
        "3-33 letters, digits, '-' or '_', starting with a letter or digit",
    ),
    "registry": NameRule(
        "Azure ML registry", 3, 33, r"[a-zA-Z0-9][a-zA-Z0-9_-]*",
        "3-33 letters, digits, '-' or '_', starting with a letter or digit",
    ),
    "resource_group": NameRule(
        "resource group", 1, 90, r"[-\w._()]*[-\w_()]",
        "1-90 letters, digits, '-', '_', '.', '(', ')'; not ending in '.'",
    ),
    "region": NameRule("Azure region", 3, 31, r"[a-z][a-z0-9]*", "an Azure region name such as 'eastus2' (lowercase, no spaces)"),
    "guid": NameRule(
        "GUID", 36, 36, r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "a GUID (8-4-4-4-12 hex digits)",
    ),
    "vm_size": NameRule("VM size", 3, 64, r"[A-Za-z][A-Za-z0-9_]*", "a VM size such as 'Standard_NC24ads_A100_v4'"),
    "storage_account": NameRule("storage account", 3, 24, r"[a-z0-9]+", "3-24 lowercase letters and digits"),
    "key_vault": NameRule(
        "key vault", 3, 24, r"[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]",
        "3-24 letters, digits and hyphens, starting with a letter, ending with a letter or digit, no '--'",
        no_double_hyphen=True,
    ),
    "container_registry": NameRule("container registry", 5, 50, r"[a-zA-Z0-9]+", "5-50 letters and digits"),
    "log_analytics": NameRule(
        "Log Analytics workspace", 4, 63, r"[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]",
        "4-63 letters, digits and hyphens, starting and ending with a letter or digit",
    ),
    "application_insights": NameRule(
        "Application Insights", 1, 255, r"[a-zA-Z0-9_.()-]*[a-zA-Z0-9_()-]",
        "1-255 letters, digits, '_', '.', '-', '(', ')', not ending in '.'",
    ),
    "vnet": NameRule(
        "virtual network", 2, 64, r"[a-zA-Z0-9][a-zA-Z0-9_.-]*[a-zA-Z0-9_]",
        "2-64 letters, digits, '_', '.', '-', starting with a letter or digit, ending with a letter, digit or '_'",
    ),
    # ---- amlgen's own names
    "environment": NameRule(
        "environment", 1, 20, r"[a-z][a-z0-9-]*", "1-20 lowercase letters, digits or hyphens, starting with a letter",
    ),
}

# Tags (Azure Resource Manager's tag rules, which Azure ML's resources share): a name of 1-512 characters without
# any of < > % & \ ? /, a value of at most 256 characters.
TAG_NAME_MAX = 512
TAG_VALUE_MAX = 256
TAG_NAME_FORBIDDEN = '<>%&\\?/'


def tag_problem(name: str, value: object) -> str | None:
    """Why Azure would refuse the tag ``name: value``, or None."""
    if not isinstance(name, str) or not name.strip():
        return "a tag name must be a non-empty string"
    if len(name) > TAG_NAME_MAX:
        return f"the tag name is {len(name)} characters; Azure allows at most {TAG_NAME_MAX}"
    bad = sorted({c for c in name if c in TAG_NAME_FORBIDDEN})
    if bad:
        return f"the tag name {name!r} holds {' '.join(bad)}; Azure refuses any of {' '.join(TAG_NAME_FORBIDDEN)} in tag names"
    text = value if isinstance(value, str) else str(value)
    if len(text) > TAG_VALUE_MAX:
        return f"the tag value is {len(text)} characters; Azure allows at most {TAG_VALUE_MAX}"
    return None


# Model versions: the service expects a positive integer (as a string) for workspace models.
MODEL_VERSION_MAX = 2**31 - 1


def model_version_problem(version: str) -> str | None:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", str(version)) or int(version) > MODEL_VERSION_MAX:
        return f"model version {version!r} must be a positive integer below 2^31"
    return None


def version_from_digest(hexdigest: str) -> str:
    """A model version derived from content: a positive integer in [1, 2^31 - 1], stable for the same digest."""
    return str(int(hexdigest[:15], 16) % MODEL_VERSION_MAX + 1)


def stable_suffix(*parts: str, length: int = 6) -> str:
    """Deterministic lowercase hex suffix from where a resource lives (never from a clock or randomness)."""
    key = "/".join(p.lower() for p in parts)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:length]


def unique_endpoint_name(prefix: str, env: str, subscription_id: str, resource_group: str, workspace: str) -> str:
    """``<prefix>-<env>-<6 hex>``: unique per workspace and environment, stable across renders, within 32 chars.

    An online endpoint's name is global in its region (its scoring host is ``<name>.<region>.inference.ml.azure.com``),
    so the notebook appended a timestamp; the suffix makes it unique by construction instead.
    """
    suffix = stable_suffix(subscription_id, resource_group, workspace, env)
    head = f"{prefix}-{env}"[: RULES["endpoint"].max_len - len(suffix) - 1].rstrip("-")
    return f"{head}-{suffix}"


def _validator(rule: NameRule):
    def check(value: str) -> str:
        if rule.problem(value) is not None:
            raise ValueError(rule.message(value))
        return value

    return AfterValidator(check)


def name_type(key: str):
    """An ``Annotated[str, ...]`` pydantic type enforcing ``RULES[key]`` (error: ``invalid name 'x': must be ...``)."""
    return Annotated[str, _validator(RULES[key])]


EndpointName = name_type("endpoint")
DeploymentName = name_type("deployment")
ComputeName = name_type("compute")
AssetName = name_type("asset")
RegistryAssetName = name_type("registry_asset")
AssetVersion = name_type("asset_version")
WorkspaceName = name_type("workspace")
RegistryName = name_type("registry")
ResourceGroupName = name_type("resource_group")
Region = name_type("region")
Guid = name_type("guid")
VmSize = name_type("vm_size")
