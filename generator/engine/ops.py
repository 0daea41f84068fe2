"""Endpoint operations outside apply: score a request (``invoke``) and the notebook's cleanup (``destroy``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Environment
from ..errors import AmlgenError, AzureError, UsageProblem
from ..kinds import Ref
from ..workspace import Workspace
from ..yamlutil import MAX_REQUEST_BYTES, read_json
from .report import Reporter
from .specs import Resource


def endpoint_of(resources: list[Resource]) -> tuple[str, str | None]:
    """(endpoint name, deployment name) from the specs."""
    endpoint = deployment = None
    for r in resources:
        if r.kind.name in ("endpoint", "traffic"):
            endpoint = r.name
        elif r.kind.name == "deployment":
            deployment = r.name
            endpoint = endpoint or r.ref.endpoint
    if endpoint is None:
        raise AmlgenError("no endpoint spec in the specs folder")
    return endpoint, deployment


def default_request(env: Environment) -> dict[str, Any]:
    """A tiny chat request with the environment's generation parameters (when no sample request was prepared)."""
    inf = env.config.inference
    return {"input_data": {"input_string": [{"role": "user", "content": "What is the capital of France?"}],
                           "parameters": {"temperature": inf.temperature, "top_p": inf.top_p,
                                          "do_sample": inf.do_sample, "max_new_tokens": inf.max_new_tokens}}}


def read_request(path: Path) -> None:
    """A request file must be JSON (checked before anything is sent)."""
    if not os.path.lexists(path):
        raise AmlgenError("no such request file", where=str(path))
    read_json(path, str(path), limit=MAX_REQUEST_BYTES, error=AmlgenError, what="request file")


def invoke(ws: Workspace, env: Environment, resources: list[Resource], request: Path | None,
           deployment: str | None = None) -> str:
    """Score ``request`` (a JSON file; default: the environment's prepared sample request, else a tiny one)."""
    endpoint, _ = endpoint_of(resources)
    if request is not None:
        read_request(request)
    if ws.get(Ref("endpoint", endpoint)) is None:
        raise AzureError(f"endpoint '{endpoint}': does not exist: run `amlgen apply --env {env.name}` first")
    if request is not None:
        return ws.invoke(endpoint, request, deployment)
    return ws.invoke_json(endpoint, default_request(env), deployment)


def destroy(ws: Workspace, env: Environment, resources: list[Resource], *, only: str | None = None,
            include_compute: bool = False, reporter: Reporter | None = None,
            confirm: Callable[[str], None]) -> list[str]:
    """Remove what the notebook's cleanup removes: the endpoint (with its deployments); the compute optionally."""
    rep = reporter or Reporter()
    if only not in (None, "endpoint", "compute"):
        raise UsageProblem(f"--only must be endpoint or compute, got {only!r}")
    endpoint, _ = endpoint_of(resources)
    compute = next((r.name for r in resources if r.kind.name == "compute"), None)
    targets: list[Ref] = []
    if only in (None, "endpoint"):
        targets.append(Ref("endpoint", endpoint))
    if (only == "compute" or (only is None and include_compute)) and compute:
        targets.append(Ref("compute", compute))
    confirm(f"Delete {', '.join(f'{t.kind} {t.name!r}' for t in targets)} from {ws.label}")
    ws.check()
    removed = []
    for ref in targets:
        rep.line(f"- {ref.kind} {ref.name}: deleting")
        if ws.delete(ref):
            rep.line(f"  {ref.kind} {ref.name}: deleted")
            removed.append(f"{ref.kind} {ref.name}")
        else:
            rep.line(f"  {ref.kind} {ref.name}: does not exist")
    return removed
