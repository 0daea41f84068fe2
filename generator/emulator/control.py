"""The ``/_emulator`` control API (health, request log, fault rules, reset, latencies) and its client.

Loopback only: no auth, not recorded in the request log, no fault rules applied.
"""

from __future__ import annotations

import json
import re
import ssl
from typing import Any, Optional

from .core import DEFAULT_LATENCIES, ApiError, Request, RequestRecord, Response, add_routes, bad, is_write
from .errors import EmulatorError
from .faults import FaultRuleError
from .joblife import add_script, check_script
from .state import AppState


def health(app: AppState, req: Request) -> Response:
    return Response(200, {"ok": True, "base_url": app.base_url})


def get_requests(app: AppState, req: Request) -> Response:
    with app.lock:
        log = [r._asdict() for r in app.log]
    return Response(200, {"requests": log, "write_calls": sum(1 for r in app.log if is_write(r.method, r.path))})


def clear_requests(app: AppState, req: Request) -> Response:
    with app.lock:
        app.log.clear()
    return Response(204)


def list_faults(app: AppState, req: Request) -> Response:
    return Response(200, {"faults": [r.to_dict() for r in app.faults.list()]})


def add_faults(app: AppState, req: Request) -> Response:
    """POST a rule object or a list of them (the keys of ``Faults.add``)."""
    rules = req.data if isinstance(req.data, list) else [req.data]
    try:
        added = [app.faults.add_dict(r).to_dict() for r in rules]
    except FaultRuleError as exc:
        raise bad(exc.message, "InvalidFault") from None
    return Response(201, {"faults": added})


def clear_faults(app: AppState, req: Request) -> Response:
    app.faults.clear()
    return Response(204)


def remove_fault(app: AppState, req: Request) -> Response:
    if not re.fullmatch(r"\d+", req.params["id"]):
        return _no_route(app, req)
    return Response(204 if app.faults.remove(int(req.params["id"])) else 404)


def reset(app: AppState, req: Request) -> Response:
    """Drop all resources, blobs, fault rules, job scripts and the request log (declared workspaces stay)."""
    app.reset_state()
    app.faults.clear()
    with app.lock:
        app.log.clear()
        app.job_scripts.clear()
    app.save()
    return Response(204)


def list_workspaces(app: AppState, req: Request) -> Response:
    with app.lock:
        out = {f"{w['sub']}/{w['rg']}/{w['name']}".lower(): {
            "subscription_id": w["sub"], "resource_group": w["rg"], "name": w["name"],
            "location": w.get("location", app.location)} for w in app.state["workspaces"].values()}
        for key, d in app.declared.items():
            out.setdefault(key, {"subscription_id": d["sub"], "resource_group": d["rg"], "name": d["name"],
                                 "location": d["location"]})
    return Response(200, {"workspaces": list(out.values())})


def add_workspace(app: AppState, req: Request) -> Response:
    """``{"subscription_id", "resource_group", "name", "location"}`` (subscription and group default to the
    emulator's)."""
    data = req.data if isinstance(req.data, dict) else {}
    unknown = set(data) - {"subscription_id", "resource_group", "name", "location", "storage_auth"}
    if unknown:
        raise bad(f"unknown workspace keys: {', '.join(sorted(unknown))}", "InvalidWorkspace")
    try:
        ws = app.declare_workspace(data.get("subscription_id", app.subscription_id),
                                   data.get("resource_group", app.resource_group), data.get("name"),
                                   data.get("location"), data.get("storage_auth", "key"))
    except EmulatorError as exc:
        raise bad(exc.one_line(), "InvalidWorkspace") from None
    return Response(201, {"subscription_id": ws["sub"], "resource_group": ws["rg"], "name": ws["name"],
                          "location": ws["location"]})


def list_job_scripts(app: AppState, req: Request) -> Response:
    with app.lock:
        return Response(200, {"job_scripts": [dict(s) for s in app.job_scripts]})


def add_job_scripts(app: AppState, req: Request) -> Response:
    """A script object or a list of them: ``{"name": regex, "steps": [[status, seconds], ...], "end",
    "message", "count"}``."""
    items = req.data if isinstance(req.data, list) else [req.data]
    scripts = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"name", "steps", "end", "message", "count"}:
            raise bad("a job script is {name, steps, end, message, count}", "InvalidJobScript")
        try:
            scripts.append(check_script(item.get("name"), item.get("steps"), item.get("end", "Completed"),
                                        item.get("message"), item.get("count")))
        except ValueError as exc:
            raise bad(str(exc), "InvalidJobScript") from None
    return Response(201, {"job_scripts": [add_script(app, s) for s in scripts]})


def clear_job_scripts(app: AppState, req: Request) -> Response:
    with app.lock:
        app.job_scripts.clear()
    return Response(204)


def get_config(app: AppState, req: Request) -> Response:
    return Response(200, {"latencies": app.latencies, "job_duration": app.job_duration})


def set_config(app: AppState, req: Request) -> Response:
    """``{"latencies": {kind: seconds}, "job_duration": seconds}`` (``latencies.job`` = ``job_duration``)."""
    data = req.data or {}
    unknown = set(data) - {"latencies", "job_duration"}
    if unknown:
        raise bad(f"unknown config keys: {', '.join(sorted(unknown))}")
    lat = dict(data.get("latencies") or {})
    if "job" in lat:
        data["job_duration"] = lat.pop("job")
    wrong = set(lat) - set(DEFAULT_LATENCIES)
    if wrong:
        raise bad(f"unknown latency kinds: {', '.join(sorted(wrong))}")
    app.latencies.update({k: float(v) for k, v in lat.items()})
    if "job_duration" in data:
        app.job_duration = float(data["job_duration"])
    return get_config(app, req)


def _no_route(app: AppState, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"No control route {req.method} {req.path}.")


add_routes(
    ("_emulator/health", "GET", health),
    ("_emulator/requests", "GET", get_requests),
    ("_emulator/requests", "DELETE", clear_requests),
    ("_emulator/faults", "GET", list_faults),
    ("_emulator/faults", "POST", add_faults),
    ("_emulator/faults", "DELETE", clear_faults),
    ("_emulator/faults/{id}", "DELETE", remove_fault),
    ("_emulator/reset", "POST", reset),
    ("_emulator/workspaces", "GET", list_workspaces),
    ("_emulator/workspaces", "POST", add_workspace),
    ("_emulator/job-scripts", "GET", list_job_scripts),
    ("_emulator/job-scripts", "POST", add_job_scripts),
    ("_emulator/job-scripts", "DELETE", clear_job_scripts),
    ("_emulator/config", "GET", get_config),
    ("_emulator/config", "POST", set_config),
    ("_emulator/*", "*", _no_route),
)


class EmulatorControl:
    """Client of the control API of an emulator running in another process (stdlib only)."""

    def __init__(self, base_url: str, ca_path: str, timeout: float = 10.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._ctx = ssl.create_default_context(cafile=ca_path)
        self.timeout = timeout

    def _call(self, method: str, route: str, body: Any = None) -> Any:
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + "_emulator/" + route, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=self.timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise EmulatorError(f"emulator control {method} {route}: HTTP {exc.code}: {exc.read().decode()}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EmulatorError(f"cannot reach the emulator at {self.base_url}: {exc}") from exc
        return json.loads(text) if text else None

    def health(self) -> dict:
        return self._call("GET", "health")

    def requests(self) -> list[RequestRecord]:
        return [RequestRecord(r["method"], r["path"], r["status"]) for r in self._call("GET", "requests")["requests"]]

    def write_calls(self) -> int:
        return self._call("GET", "requests")["write_calls"]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def add_fault(self, **rule: Any) -> dict:
        return self._call("POST", "faults", rule)["faults"][0]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def reset(self) -> None:
        self._call("POST", "reset")

    def add_workspace(self, subscription_id: Optional[str], resource_group: Optional[str], name: str,
                      location: str, storage_auth: str = "key") -> dict:
        body = {"name": name, "location": location, "storage_auth": storage_auth}
        if subscription_id:
            body["subscription_id"] = subscription_id
        if resource_group:
            body["resource_group"] = resource_group
        return self._call("POST", "workspaces", body)

    def workspaces(self) -> list[dict]:
        return self._call("GET", "workspaces")["workspaces"]

    def script_job(self, name: str, steps: list, end: str = "Completed", *, message: Optional[str] = None,
                   count: Optional[int] = None) -> dict:
        body = {"name": name, "steps": [list(s) for s in steps], "end": end, "message": message, "count": count}
        return self._call("POST", "job-scripts", body)["job_scripts"][0]

    def clear_job_scripts(self) -> None:
        self._call("DELETE", "job-scripts")

    def configure(self, latencies: Optional[dict] = None, job_duration: Optional[float] = None) -> dict:
        body: dict = {}
        if latencies is not None:
            body["latencies"] = latencies
        if job_duration is not None:
            body["job_duration"] = job_duration
        return self._call("POST", "config", body)

    def registries(self) -> list[dict]:
        """Every registry: ``{"name", "regions" (None = every region), "system"}``."""
        return self._call("GET", "registries")["registries"]

    def add_registry(self, name: str, regions: list[str]) -> dict:
        """Declare a user registry reachable from ``regions``."""
        return self._call("POST", "registries", {"name": name, "regions": regions})

    def set_metrics(self, job: str, metrics: dict, step: Optional[str] = None) -> dict:
        """Override final metric values of a pipeline job (see ``Emulator.set_metrics``)."""
        return self._call("POST", "metrics", {"job": job, "metrics": metrics, "step": step})
