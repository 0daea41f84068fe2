"""The conformance suite: the emulator answers as the real Azure ML service does.

The reference is real recorded traffic, derived into ``tests/fixtures/recordings/*.json`` (by ``derive.py``
there; the tests never read the recordings themselves). Each exchange is replayed against an emulator - the
exact recorded request over raw HTTPS, with the emulator's subscription, group, workspace and hosts put in the
recorded ids' place - and the answer must have the recorded status, the headers that matter (the LRO headers'
presence and URL shape, ``x-ms-response-type``, ``Content-Type``, blob and scoring headers; the LRO headers the
service did not send must be absent too) and the recorded body SHAPE (the same keys, recursively, with the same
value types). Where the emulator cannot do what the recording shows, the test names the difference and why
(``known=``). SDK-driven tests check the same calls through azure-ai-ml 1.35.2.

The fixtures live here and each test module imports them (as tests/engine does from engine_support.py): a
``conftest.py`` in this folder would shadow the ``conftest`` module other folders import helpers from.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Optional

import pytest
import requests

from generator.emulator import Emulator
from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recordings"
LATENCIES = {"compute": 0.15, "endpoint": 0.15, "endpoint_update": 0.15, "deployment": 0.15, "delete": 0.15,
             "cancel": 0.05, "model": 0.0, "data": 0.0}
GUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def load(name: str) -> dict[str, dict]:
    """The exchanges of one fixture file, by id."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    return {ex["id"]: ex for ex in doc["exchanges"]}


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}[type(value)]


def shape_diff(want: Any, got: Any, path: str = "$") -> list[str]:
    """Where two shapes differ: missing or extra keys, other types."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in want if k not in got]
        out += [f"{path}.{k}: not in the recording" for k in got if k not in want]
        for k in want:
            if k in got:
                out += shape_diff(want[k], got[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if want and got:
            return shape_diff(want[0], got[0], f"{path}[0]")
        return [] if not want and not got else [f"{path}: {len(want)} vs {len(got)} items"]
    return [] if want == got else [f"{path}: {want} in the recording, {got} here"]


class Replayer:
    """Replays recorded exchanges against one emulator workspace and checks the answers."""

    def __init__(self, emu: Emulator, workspace: str, region: str, storage_auth: str = "key") -> None:
        self.emu = emu
        self.ws = workspace
        self.region = region
        emu.add_workspace(emu.subscription_id, emu.resource_group, workspace, region, storage_auth=storage_auth)
        self.token = EmulatorCredential().get_token(emu.base_url + ".default").token
        self.base = emu.base_url
        self.sas = ""
        ws = self.call("GET", self.arm(""), query={"api-version": "2024-10-01-preview"}).json()
        self.workspace_id = ws["properties"]["workspaceId"]

    # -------------------------------------------------------------- addresses
    def fill(self, text: str) -> str:
        return (text.replace("{sub}", self.emu.subscription_id).replace("{rg}", self.emu.resource_group)
                .replace("{ws}", self.ws).replace("{workspace_id}", self.workspace_id).replace("{base}", self.base))

    def filled(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, dict):
            return {self.fill(k): self.filled(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.filled(v) for v in value]
        return value

    def arm(self, rest: str) -> str:
        return (f"/subscriptions/{self.emu.subscription_id}/resourceGroups/{self.emu.resource_group}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{self.ws}{rest}")

    def url_pattern(self, template: str) -> re.Pattern:
        parts = re.split(r"(\{[a-z_]+\})", template)
        values = {"{base}": self.base, "{sub}": self.emu.subscription_id, "{rg}": self.emu.resource_group,
                  "{ws}": self.ws, "{workspace_id}": self.workspace_id, "{region}": self.region}
        return re.compile("^" + "".join(GUID if p == "{guid}" else re.escape(values.get(p, p)) for p in parts) + "$")

    # -------------------------------------------------------------- requests
    def call(self, method: str, path_or_url: str, *, query: Optional[dict] = None, body: Any = None,
             headers: Optional[dict] = None, raw: Optional[bytes] = None) -> requests.Response:
        url = path_or_url if path_or_url.startswith("https://") else self.base + path_or_url.lstrip("/")
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        kwargs: dict = {"params": query, "headers": hdrs, "verify": self.emu.ca_path, "timeout": 10}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        return requests.request(method, url, **kwargs)

    def send(self, ex: dict, *, url: Optional[str] = None, body: Any = "recorded",
             headers: Optional[dict] = None) -> requests.Response:
        """The recorded request (``url`` replaces its address, e.g. an LRO URL from an earlier answer)."""
        req = ex["request"]
        data = self.filled(req["body"]) if body == "recorded" else body
        if url is None:
            path = self.fill(req["path"])
            if ".blob.core.windows.net" in req["host"]:
                query = {**req["query"]}
                return self.blob(req["method"], path, query, data, headers)
            return self.call(req["method"], path, query=req["query"], body=data, headers=headers)
        return self.call(req["method"], url, body=data, headers=headers)

    def blob(self, method: str, path: str, query: dict, data: Any, headers: Optional[dict]) -> requests.Response:
        """A blob request, with the SAS ``listSecrets`` gave appended as the SDK appends it (fact 28)."""
        assert self.sas, "replay list-secrets-sas first"
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        url = f"{self.base}amlgenemulatorstore{path}?{qs + '&' if qs else ''}{self.sas.lstrip('?')}"
        raw = base64.b64decode(data["base64"]) if isinstance(data, dict) and "base64" in data else None
        hdrs = {"x-ms-version": "2021-08-06", **(headers or {})}
        return requests.request(method, url, data=raw, headers=hdrs, verify=self.emu.ca_path, timeout=10)

    # -------------------------------------------------------------- checks
    def check(self, ex: dict, resp: requests.Response, known: tuple[str, ...] = (),
              known_headers: tuple[str, ...] = (), subset: bool = False) -> Any:
        """The recorded status, headers and body shape; ``known`` lists shape differences the test explains,
        ``known_headers`` headers whose value (not presence) differs for a reason the test explains."""
        want = ex["response"]
        where = f"{ex['id']} ({ex['provenance']['file']} #{ex['provenance']['entry']})"
        assert resp.status_code == want["status"], f"{where}: status {resp.status_code}: {resp.text[:300]}"
        for name, value in want["headers"].items():
            got = resp.headers.get(name)
            assert got is not None, f"{where}: header {name} missing"
            if value == "<present>" or name in known_headers:
                continue
            if value.startswith("{base}"):
                assert self.url_pattern(value).match(got), f"{where}: {name} {got!r} is not like {value!r}"
            elif name == "Content-Type":
                assert got.split(";")[0].strip() == value.split(";")[0].strip(), f"{where}: Content-Type {got}"
            else:
                assert got == value, f"{where}: {name} {got!r}, recorded {value!r}"
        for name in want["absent_headers"]:
            assert name not in resp.headers, f"{where}: {name} should be absent (the service sends none)"
        if "text" in want:
            return resp.text
        body = resp.json() if resp.content else None
        diff = [d for d in shape_diff(want["shape"], shape(body)) if not d.startswith(known)
                and not (subset and d.endswith("not in the recording"))]  # subset: a trimmed recorded body
        assert not diff, f"{where}: body shape differs from the recording:\n" + "\n".join(diff)
        return body


def wait_until(predicate, timeout: float = 5.0, step: float = 0.05) -> None:
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not reached in time")


# ------------------------------------------------------------------------ fixtures (imported by the tests)
@pytest.fixture(scope="session")
def conformance_emulator():
    with Emulator(latencies=LATENCIES, job_duration=0.5) as emu:
        yield emu


@pytest.fixture
def conf_emu(conformance_emulator):
    conformance_emulator.reset()
    conformance_emulator.latencies.update(LATENCIES)
    with prepare_process_for_emulator(conformance_emulator.base_url, conformance_emulator.ca_path):
        yield conformance_emulator
    conformance_emulator.faults.clear()


@pytest.fixture
def replayer(conf_emu):
    return lambda workspace, region, **kw: Replayer(conf_emu, workspace, region, **kw)


@pytest.fixture
def sdk(conf_emu):
    from azure.ai.ml import MLClient

    def make(workspace: str, region: str = "eastus", **kw):
        conf_emu.add_workspace(conf_emu.subscription_id, conf_emu.resource_group, workspace, region, **kw)
        return MLClient(EmulatorCredential(), conf_emu.subscription_id, conf_emu.resource_group, workspace,
                        **local_cloud_kwargs(conf_emu.base_url), retry_backoff_factor=0.01)

    return make
