"""Workspaces declared with a region, and online endpoint names global per region across every workspace and
subscription the emulator holds (the scoring host is ``<name>.<region>.inference.ml.azure.com``)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from generator.emulator import EmulatorControl, EmulatorError
from generator.emulator.local import EmulatorCredential, local_cloud_kwargs

SUB_A = "11111111-0000-0000-0000-00000000000a"
SUB_B = "11111111-0000-0000-0000-00000000000b"


def _client(emu, sub: str, rg: str, ws: str):
    from azure.ai.ml import MLClient

    return MLClient(EmulatorCredential(), sub, rg, ws, **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)


def test_endpoint_names_are_global_per_region(emu):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    emu.add_workspace(SUB_A, "rg-a", "ws-east-a", "eastus")
    EmulatorControl(emu.base_url, emu.ca_path).add_workspace(SUB_B, "rg-b", "ws-east-b", "East US")
    emu.add_workspace(SUB_B, "rg-b", "ws-west-b", "westus")
    east_a, east_b = _client(emu, SUB_A, "rg-a", "ws-east-a"), _client(emu, SUB_B, "rg-b", "ws-east-b")
    west_b = _client(emu, SUB_B, "rg-b", "ws-west-b")
    assert east_b.workspaces.get("ws-east-b").location == "eastus"

    first = east_a.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="chat-shared")).result()
    assert first.scoring_uri.endswith("/inference/eastus/chat-shared/score")
    with pytest.raises(HttpResponseError, match="unique within a region") as info:
        east_b.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="chat-shared")).result()
    assert info.value.status_code == 400 and info.value.error.code == "BadRequest"
    assert info.value.error.details[0].code == "InferencingClientCallFailed"
    # another region is another namespace; the holder itself may update its endpoint
    west = west_b.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="chat-shared")).result()
    assert west.scoring_uri.endswith("/inference/westus/chat-shared/score")
    first.description = "updated"
    assert east_a.online_endpoints.begin_create_or_update(first).result().description == "updated"
    # once deleted, the name is free in the region again
    east_a.online_endpoints.begin_delete("chat-shared").result()
    assert east_b.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="chat-shared")).result()


def test_a_workspace_keeps_its_region(emu):
    from azure.ai.ml.entities import AmlCompute, ManagedOnlineEndpoint

    emu.add_workspace(SUB_A, "rg-a", "ws-swe", "swedencentral")
    ml = _client(emu, SUB_A, "rg-a", "ws-swe")
    assert ml.compute.begin_create_or_update(AmlCompute(name="c1", size="Standard_DS3_v2", max_instances=1)
                                             ).result().location == "swedencentral"
    # the SDK reads the workspace's location before an endpoint PUT (recordings, fact 41)
    ep = ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-swe", location="eastus")).result()
    assert ep.location == "swedencentral" and "/inference/swedencentral/ep-swe/" in ep.scoring_uri
    with pytest.raises(EmulatorError, match="cannot move"):
        emu.add_workspace(SUB_A, "rg-a", "ws-swe", "eastus")
    with pytest.raises(EmulatorError, match="workspace name"):
        emu.add_workspace(SUB_A, "rg-a", "x", "eastus")
    emu.reset()  # declared workspaces outlive a reset, empty
    assert {"name": "ws-swe", "location": "swedencentral", "subscription_id": SUB_A,
            "resource_group": "rg-a"} in emu.workspaces()
    assert ml.workspaces.get("ws-swe").location == "swedencentral"
    # undeclared workspaces are still created on first use, in the emulator's location
    other = _client(emu, SUB_B, "rg-x", "ws-auto")
    assert other.workspaces.get("ws-auto").location == "eastus"
