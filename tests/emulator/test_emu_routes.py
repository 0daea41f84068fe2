"""The emulator's route table (``generator.emulator.core``): which row answers a path, and that a path below a
resource never acts on the resource itself. In-process ``App.handle`` calls, no server, no mocks."""

from __future__ import annotations

import json

import pytest

from generator.emulator import Faults, computes, control
from generator.emulator import app as app_module
from generator.emulator.core import add_routes, find_route

WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
AUTH = {"Authorization": "Bearer " + "t" * 40}


def _route(segments, method, case_sensitive=False):
    found = find_route(segments, method, case_sensitive)
    assert found is not None
    return found


def test_exact_rows_beat_wildcards_and_named_methods_beat_any():
    route, params = _route(["workspaces", "w", "computes", "c1", "listNodes"], "POST")
    assert route.handler is computes.list_nodes and params == {"ws": "w", "name": "c1"}
    route, _ = _route(["workspaces", "w", "computes", "c1", "listNodes"], "GET")  # no GET row: the action fallback
    assert route.handler is computes.unknown_action
    route, _ = _route(["workspaces", "w", "computes", "c1"], "HEAD")  # the resource's own "*" row, not a wildcard
    assert (route.template, route.method) == ("workspaces/{ws}/computes/{name}", "*")
    route, _ = _route(["workspaces", "w", "nothing", "x", "y"], "GET")
    assert route.template == "workspaces/{ws}/*"


def test_literals_ignore_case_unless_asked_and_names_are_never_empty():
    route, _ = _route(["WORKSPACES", "w", "COMPUTES"], "GET")
    assert route.handler is computes.list_computes
    assert _route(["_emulator", "health"], "GET", case_sensitive=True)[0].handler is control.health
    assert _route(["_emulator", "HEALTH"], "GET", case_sensitive=True)[0].template == "_emulator/*"
    assert _route(["_emulator", "faults", ""], "DELETE", case_sensitive=True)[0].template == "_emulator/*"


def test_a_row_registered_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        add_routes(("workspaces/{other}/computes/{x}", "GET", computes.get_compute))


def test_a_path_below_a_resource_does_not_act_on_it():
    app = app_module.App(subscription_id="s", resource_group="rg", workspace_name="ws", workspaces=None,
                         location="eastus", latencies={"compute": 0, "delete": 0}, job_duration=0, state_dir=None,
                         faults=Faults())
    body = {"properties": {"computeType": "AmlCompute",
                           "properties": {"vmSize": "Standard_DS3_v2", "scaleSettings": {"maxNodeCount": 1}}}}
    put = app.handle("PUT", f"{WS}/computes/c1?api-version=1", AUTH, json.dumps(body).encode())
    assert put.status == 201
    deep = app.handle("DELETE", f"{WS}/computes/c1/a/b?api-version=1&underlyingResourceAction=Delete", AUTH, b"")
    assert (deep.status, deep.body["error"]["code"]) == (404, "NotFound")
    assert app.handle("GET", f"{WS}/computes/c1?api-version=1", AUTH, b"").status == 200
    unknown = app.handle("GET", f"{WS}/nothing?api-version=1", AUTH, b"")
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "NoRegisteredProviderFound")
