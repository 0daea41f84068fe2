"""Scoring: ``POST <scoringUri>`` of an online endpoint.

The service serves ``https://<endpoint>.<region>.inference.ml.azure.com/score`` - an endpoint is found by its
region and name alone, which is why names are global per region; the emulator serves the same address as
``<base>/inference/<region>/<endpoint>/score``. A request needs an endpoint key (``Authorization: Bearer``).
The ``azureml-model-deployment`` header picks a deployment; without it the live traffic split routes it
(smooth weighted round robin: exactly the configured shares over any 100 requests) and a copy goes to the
mirror deployment for its share (the client never sees the mirror's answer; its log does). The answer carries
the recorded headers (fact 13: ``azureml-model-deployment``, ``azureml-model-session``, ``Server:
azureml-frontdoor``, ``x-ms-run-function-failed``) and a deterministic chat completion ``{"output": ...}``.

Fault rules are matched here, once the serving deployment is known, against the request path and against
``/inference/<region>/<endpoint>/deployments/<deployment>/score``: ``status`` answers that status, ``fail``
makes the deployment's scoring function fail (500), ``body`` answers a wrong body, ``delay`` slows it down.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from typing import Optional

from .core import Request, Response, add_routes, prov_state, refuse
from .deployments import log_line
from .state import AppState

SCORE = "inference/{region}/{endpoint}/score"
SERVING = ("Succeeded", "Updating")  # an endpoint keeps serving while its traffic is updated


def _pick(ep: dict, traffic: dict) -> str:
    """Smooth weighted round robin over the live traffic (state kept on the endpoint, in memory)."""
    wrr = ep["_emu"].setdefault("wrr", {})
    total = sum(traffic.values())
    for name in sorted(traffic):
        wrr[name] = wrr.get(name, 0) + traffic[name]
    best = max(sorted(traffic), key=lambda n: wrr[n])
    wrr[best] -= total
    for name in [n for n in wrr if n not in traffic]:
        del wrr[name]
    return best


def _mirror(ep: dict) -> Optional[str]:
    """The mirror deployment that gets a copy of this request, if its share says so (exact over 100 requests)."""
    shadows = {k: v for k, v in (ep["properties"].get("mirrorTraffic") or {}).items() if v > 0}
    if not shadows:
        return None
    name, pct = next(iter(shadows.items()))
    acc = ep["_emu"].get("mirror_acc", 0) + pct
    ep["_emu"]["mirror_acc"] = acc % 100
    return name if acc >= 100 else None


def _route(app: AppState, req: Request) -> tuple[Optional[Response], Optional[dict], Optional[dict], Optional[dict]]:
    """``(error answer, endpoint, deployment, mirror deployment)`` of a scoring request."""
    p, hdrs = req.params, req.headers
    app.sweep()
    holder = app.endpoint_holder(p["endpoint"], p["region"].lower())
    ep = holder["endpoints"].get(p["endpoint"].lower()) if holder else None
    if ep is None or prov_state(ep) not in SERVING or not ep["_emu"].get("served", True):
        return Response(404, {"message": f"Endpoint {p['endpoint']} not found or not ready."}), None, None, None
    auth = hdrs.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else ""
    if not token or not any(secrets.compare_digest(token, k) for k in ep["_emu"]["keys"].values()):
        return Response(401, {"message": "Unauthorized: invalid or missing key."}), ep, None, None
    deps = holder["deployments"].get(ep["name"].lower(), {})
    wanted = hdrs.get("azureml-model-deployment")
    if wanted:  # a request for one deployment is never mirrored
        dep = deps.get(wanted.lower())
        if dep is None or prov_state(dep) not in SERVING:
            return Response(404, {"message": f"Deployment {wanted} not found or not ready."}), ep, None, None
        return None, ep, dep, None
    traffic = {k: v for k, v in ep["properties"]["traffic"].items() if v > 0}
    if not traffic:
        return Response(424, {"message": "No valid deployments to route to. Please check that the endpoint has at "
                                         "least one deployment with positive weight values or use a deployment "
                                         "specific header to route."}), ep, None, None
    dep = deps[_pick(ep, traffic).lower()]
    shadow = _mirror(ep)
    return None, ep, dep, (deps.get(shadow.lower()) if shadow else None)


def _headers(dep_name: str, failed: bool = False) -> dict:
    return {"Content-Type": "application/json", "azureml-model-deployment": dep_name,
            "azureml-model-session": dep_name, "Server": "azureml-frontdoor",
            "x-ms-run-function-failed": "True" if failed else "False", "x-ms-run-fn-exec-ms": "0.402",
            "x-ms-server-version": "azmlinfsrv/1.2.2", "X-Request-ID": str(uuid.uuid4())}


def completion(dep: dict, body: bytes) -> tuple[int, dict]:
    """The deterministic chat completion a deployment answers (or a 400 for a body it cannot read)."""
    try:
        payload = json.loads(body.decode() or "null")
    except (ValueError, UnicodeDecodeError):
        return 400, {"message": "The request body must be JSON."}
    if not isinstance(payload, dict) or "input_data" not in payload:
        return 400, {"message": "Expected a JSON object with 'input_data' (chat-completion format: "
                                "{\"input_data\": {\"input_string\": [messages], \"parameters\": {}}})."}
    data = payload["input_data"]
    messages = data.get("input_string") if isinstance(data, dict) else data
    if not isinstance(messages, list) or not messages:
        return 400, {"message": "input_data.input_string must be a non-empty list of messages."}
    if all(isinstance(m, list) for m in messages):  # a batch of conversations (the notebook's [messages])
        messages = messages[0]
    last_user = ""
    for msg in messages:
        if isinstance(msg, dict) and msg.get("role") == "user":
            last_user = str(msg.get("content", ""))
    model = dep["properties"].get("model", "")
    digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).hexdigest()[:12]
    name = dep["name"]
    return 200, {"output": f"[{name}:{digest}] You said: {last_user}" if last_user else f"[{name}:{digest}] Hello."}


def score(app: AppState, req: Request) -> Response:
    with app.lock:
        error, ep, dep, shadow = _route(app, req)
    aliases = [f"/inference/{req.params['region']}/{ep['name']}/deployments/{dep['name']}/score"] if dep else []
    delay, rule = app.faults.pick(req.method, req.path, *aliases)
    if delay:
        time.sleep(delay)
    name = dep["name"] if dep else ""
    if rule is not None:
        if rule.action == "status":
            hdrs = {"Content-Type": "application/json", **({"azureml-model-deployment": name} if dep else {})}
            if rule.retry_after is not None:
                ra = rule.retry_after
                hdrs["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            resp = Response(rule.status, {"message": rule.message}, hdrs)
        elif rule.action == "body":
            resp = Response(rule.status, rule.body if rule.body is not None else {}, _headers(name))
        else:  # fail: the deployment's scoring function raised
            resp = Response(500, {"message": "An unexpected error occurred in scoring script. Check the logs for "
                                             "more info."}, _headers(name, failed=True))
        if dep:
            with app.lock:
                log_line(dep, f"POST /score {resp.status} (injected {rule.action}: {rule.message})")
        return resp
    if error is not None:
        return error
    status, body = completion(dep, req.body)
    with app.lock:
        log_line(dep, f"POST /score {status}")
        if shadow is not None:
            mirror_status, _ = completion(shadow, req.body)
            log_line(shadow, f"POST /score {mirror_status} [mirror]")
    return Response(status, body, _headers(name) if status == 200 else {"azureml-model-deployment": name})


add_routes(
    (SCORE, "POST", score),
    (SCORE, "*", refuse(405, "MethodNotAllowed", "Scoring accepts POST only.")),
)
