"""The naming rules (generator/names.py) held against the SDK's and the REST specification's own patterns."""

from __future__ import annotations

import random
import re
import string

import pytest

from generator.names import MODEL_VERSION_MAX, RULES, model_version_problem, unique_endpoint_name, version_from_digest

# The REST specification (2025-12-01, mfe.json, recordings fact 42): PUT/PATCH path names of endpoints,
# deployments and asset containers. Derived into tests/fixtures/recordings by the conformance fixtures' script.
REST_NAME = r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$"


def _names(alphabet: str, n: int = 2000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    edge = ["a", "ab", "abc", "a-b", "-ab", "ab-", "a_b", "9ab", "Ab1", "a" * 32, "a" * 33, "a" * 255, "a" * 256,
            "a.b", "a b", "", "ab--c"]
    return edge + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(n)]


@pytest.mark.parametrize("kind", ["endpoint", "deployment"])
def test_endpoint_and_deployment_names_are_the_sdks(kind):
    from azure.ai.ml.entities._endpoint._endpoint_helpers import validate_endpoint_or_deployment_name
    from azure.ai.ml.exceptions import ValidationException

    for name in _names(string.ascii_letters + string.digits + "-_."):
        try:
            validate_endpoint_or_deployment_name(name, is_deployment=kind == "deployment")
            sdk_ok = bool(name)
        except ValidationException:
            sdk_ok = False
        assert RULES[kind].ok(name) == sdk_ok, name


def test_asset_names_are_the_rest_specifications():
    for name in _names(string.ascii_letters + string.digits + "-_.~"):
        assert RULES["asset"].ok(name) == bool(re.fullmatch(REST_NAME, name)), name


def test_model_versions_are_positive_integers_below_2_31():
    assert model_version_problem("1") is None and model_version_problem(str(MODEL_VERSION_MAX)) is None
    for bad in ("0", "-1", str(MODEL_VERSION_MAX + 1), "3726666065", "1.0", "01", "v1"):
        assert model_version_problem(bad), bad
    rng = random.Random(1)
    for _ in range(1000):
        digest = "".join(rng.choice("0123456789abcdef") for _ in range(64))
        assert model_version_problem(version_from_digest(digest)) is None


def test_derived_endpoint_names_are_valid_unique_and_stable():
    seen = set()
    for env in ("dev", "prod", "a-very-long-environm"):
        for sub in ("00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111"):
            name = unique_endpoint_name("ultrachat", env, sub, "rg", "ws")
            assert RULES["endpoint"].ok(name), name
            assert name == unique_endpoint_name("ultrachat", env, sub.upper(), "RG", "WS")  # Azure ids are case-free
            seen.add(name)
    assert len(seen) == 6


def test_one_home_for_the_registry_rule():
    """iac checks derived infrastructure names with the same rule objects config uses."""
    from generator import iac

    assert iac.RULES["registry"] is RULES["registry"] and iac.RULES["workspace"] is RULES["workspace"]
    assert not RULES["registry"].ok("ab") and RULES["registry"].ok("abc")
