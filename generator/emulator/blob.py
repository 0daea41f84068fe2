"""The Azure Blob service of the workspace's storage account (path style ``/<account>/<container>/<blob>``).

Requests need a valid SharedKey signature made with the account key ``listSecrets`` gives to an empty body
(azure-ai-ml <= 1.15), or the account SAS it gives to ``{"expirableSecret": true}`` (newer SDKs append it to the
blob URLs, facts 27-28): signed with the account key, not expired, with the permission the request needs; or,
for identity-based datastores, a storage AAD token (``Authorization: Bearer``). Blob contents are kept once per
SHA-256 (``AppState.blob_data``, and ``<state_dir>/blobs/<sha>`` when the state is persistent); the state keeps each
blob's size, metadata, content hash and lease. Leases (Lease Blob, and the lease id writes to a leased blob need)
are in ``leases.py``. Errors are the storage service's: ``x-ms-error-code`` and an XML ``<Error>`` body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Optional
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from . import leases
from .core import BLOB_ACCOUNT, ApiError, Request, Response, add_routes, blob_container, call_route, http_date
from .leases import LeaseError
from .state import AppState


def serve(app: AppState, req: Request) -> Response:
    """The blob plane: check the SAS or SharedKey signature, then answer from the route table under the lock."""
    auth = req.headers.get("authorization", "")
    try:
        if "sig" in req.query:
            _check_sas(app, req)
        elif auth.lower().startswith("bearer "):
            _check_bearer(auth[7:])
        elif auth.startswith(f"SharedKey {BLOB_ACCOUNT}:"):
            _check_shared_key(app, req.method, urlsplit(req.raw_path).path, req.query, req.headers)
        else:
            raise ApiError(403, "AuthenticationFailed", "Server failed to authenticate the request: a SharedKey "
                           "signature or a SAS is required.")
    except ApiError as err:
        return _error(err.status, err.code, err.message, head=(req.method == "HEAD"))
    parts = req.path.split("/", 3)  # '', account, container, blob
    req.params["container"] = parts[2] if len(parts) > 2 else ""
    req.params["blob"] = parts[3] if len(parts) > 3 else ""
    with app.lock:
        try:
            return call_route(app, req, ["blob", "blob" if req.params["blob"] else "container"])
        except LeaseError as err:
            return _error(err.status, err.code, err.message, head=(req.method == "HEAD"))


FAULT_CODES = {403: "AuthorizationPermissionMismatch", 404: "BlobNotFound", 409: "LeaseAlreadyPresent",
               412: "ConditionNotMet", 429: "ServerBusy", 500: "InternalError", 503: "ServerBusy"}


def fault_response(req: Request, status: int, message: str) -> Response:
    """What a ``status`` fault rule answers on the blob plane: the storage error of that status (403
    ``AuthorizationPermissionMismatch``, 429/503 ``ServerBusy``, ...) with the rule's message."""
    return _error(status, FAULT_CODES.get(status, "InjectedFailure"), message, head=(req.method == "HEAD"))


def is_blob_path(path: str) -> bool:
    """Whether a request path is on the blob plane (``/<account>/...``)."""
    return path.startswith(f"/{BLOB_ACCOUNT}/") or path == f"/{BLOB_ACCOUNT}"


def blob_exists(app: AppState, ws: dict, path: str) -> bool:
    """Whether ``path`` is a blob or a folder of blobs in the workspace's blob datastore."""
    prefix = f"/{BLOB_ACCOUNT}/{blob_container(ws)}/{path.strip('/')}"
    blobs = app.state["blobs"]
    return prefix in blobs or any(k.startswith(prefix + "/") for k in blobs)


def container_op(app: AppState, req: Request) -> Response:
    """Container operations: list blobs, create/get the container (it always exists)."""
    query, container, blobs = req.query, req.params["container"], app.state["blobs"]
    if query.get("restype") == "container" and query.get("comp") == "list":
        prefix = query.get("prefix", "")
        base = f"/{BLOB_ACCOUNT}/{container}/"
        names = sorted(k[len(base):] for k in blobs if k.startswith(base + prefix))
        items = "".join(
            f"<Blob><Name>{xml_escape(n)}</Name><Properties><Content-Length>"
            f"{blobs[base + n]['size']}</Content-Length><BlobType>BlockBlob"
            f"</BlobType>{leases.list_properties(blobs[base + n])}</Properties><Metadata>" + "".join(
                f"<{k}>{xml_escape(v)}</{k}>" for k, v in blobs[base + n]["metadata"].items())
            + "</Metadata></Blob>" for n in names)
        xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint='
               f'"{app.base_url}{BLOB_ACCOUNT}/" ContainerName="{xml_escape(container)}"><Prefix>'
               f"{xml_escape(prefix)}</Prefix><Blobs>{items}</Blobs><NextMarker /></EnumerationResults>")
        return Response(200, xml.encode(), {"Content-Type": "application/xml", "x-ms-version":
                                            req.headers.get("x-ms-version", "2021-08-06")})
    if query.get("restype") == "container":
        return Response(200 if req.method in ("GET", "HEAD") else 201, b"", _headers(time.time()))
    return _error(400, "InvalidQueryParameterValue", "Unsupported container operation.")


def read_blob(app: AppState, req: Request) -> Response:
    """GET (with an optional ``Range``/``x-ms-range``) or HEAD of a blob."""
    method, hdrs = req.method, req.headers
    rec = app.state["blobs"].get(req.path)
    if rec is None:
        return _error(404, "BlobNotFound", "The specified blob does not exist.", head=(method == "HEAD"))
    leases.check_access(rec, hdrs, write=False)
    data = _read(app, rec)
    headers = {**_headers(rec["modified"], rec), **leases.property_headers(rec)}
    headers["Content-Type"] = rec.get("content_type", "application/octet-stream")
    status = 200
    rng = re.match(r"^bytes=(\d+)-(\d*)$", hdrs.get("x-ms-range", hdrs.get("range", "")))
    if rng and method == "GET":
        start = int(rng.group(1))
        end = min(int(rng.group(2)) if rng.group(2) else len(data) - 1, len(data) - 1)
        if start >= len(data):  # Azure answers 416 (also for an empty blob)
            return _error(416, "InvalidRange", "The range specified is invalid.")
        headers["Content-Range"] = f"bytes {start}-{max(end, start)}/{len(data)}"
        if "Content-MD5" in headers:  # the whole blob's hash, not the range's
            headers["x-ms-blob-content-md5"] = headers.pop("Content-MD5")
        data = data[start: end + 1]
        status = 206
    headers["Content-Length"] = str(len(data))
    return Response(status, b"" if method == "HEAD" else data, headers)


def put_blob(app: AppState, req: Request) -> Response:
    """PUT of a blob: a whole upload, or ``comp=metadata|block|blocklist``."""
    comp = req.query.get("comp")
    if not comp:
        return _upload(app, req)
    handler = _PUT_COMP.get(comp)
    if handler is None:
        return _error(400, "InvalidQueryParameterValue", f"Unsupported comp={comp}.")
    return handler(app, req)


def _upload(app: AppState, req: Request) -> Response:
    hdrs, blobs, key, now = req.headers, app.state["blobs"], req.path, time.time()
    if hdrs.get("x-ms-blob-type") != "BlockBlob":
        return _error(400, "MissingRequiredHeader", "x-ms-blob-type: BlockBlob is required.")
    if hdrs.get("if-none-match") == "*" and blobs.get(key) is not None:
        return _error(409, "BlobAlreadyExists", "The specified blob already exists.")
    leases.check_access(blobs.get(key), hdrs, write=True)
    blobs[key] = leases.carry(blobs.get(key), _write(app, req.body, hdrs, now))
    app.save()
    headers = _headers(now, blobs[key])
    headers["Content-MD5"] = base64.b64encode(hashlib.md5(req.body).digest()).decode()
    if len(req.body) <= 4 * 1024 * 1024:  # a pure-Python CRC: only for the small uploads the SDK makes
        headers["x-ms-content-crc64"] = base64.b64encode(crc64(req.body)).decode()
    headers["x-ms-request-server-encrypted"] = "true"
    return Response(201, b"", headers)


def _set_metadata(app: AppState, req: Request) -> Response:
    rec, now = app.state["blobs"].get(req.path), time.time()
    if rec is None:
        return _error(404, "BlobNotFound", "The specified blob does not exist.")
    leases.check_access(rec, req.headers, write=True)
    rec["metadata"] = _meta(req.headers)
    rec["modified"] = now
    app.save()
    return Response(200, b"", _headers(now, rec))


def _put_block(app: AppState, req: Request) -> Response:
    if app.state["blobs"].get(req.path) is not None:
        leases.check_access(app.state["blobs"][req.path], req.headers, write=True)
    app.staged.setdefault(req.path, {})[req.query.get("blockid", "")] = req.body
    return Response(201, b"", _headers(time.time()))


def _put_block_list(app: AppState, req: Request) -> Response:
    key, now = req.path, time.time()
    leases.check_access(app.state["blobs"].get(key), req.headers, write=True)
    staged = app.staged.pop(key, {})
    ids = re.findall(r"<(?:Latest|Uncommitted|Committed)>([^<]*)</", req.body.decode())
    try:
        data = b"".join(staged[i] for i in ids)
    except KeyError:
        return _error(400, "InvalidBlockList", "The specified block list is invalid.")
    app.state["blobs"][key] = leases.carry(app.state["blobs"].get(key), _write(app, data, req.headers, now))
    app.save()
    return Response(201, b"", _headers(now, app.state["blobs"][key]))


def _lease(app: AppState, req: Request) -> Response:
    """Lease Blob: acquire, renew, change, release or break the blob's lease (``leases.operate``)."""
    rec = app.state["blobs"].get(req.path)
    if rec is None:
        return _error(404, "BlobNotFound", "The specified blob does not exist.")
    status, extra = leases.operate(rec, req.headers, app.lease_time_scale)
    app.save()
    return Response(status, b"", {**_headers(rec["modified"]), **extra})


_PUT_COMP = {"metadata": _set_metadata, "block": _put_block, "blocklist": _put_block_list, "lease": _lease}


def delete_blob(app: AppState, req: Request) -> Response:
    blobs = app.state["blobs"]
    if blobs.get(req.path) is None:
        return _error(404, "BlobNotFound", "The specified blob does not exist.")
    leases.check_access(blobs[req.path], req.headers, write=True)
    del blobs[req.path]
    app.save()
    return Response(202, b"", _headers(time.time()))


def _unsupported_verb(app: AppState, req: Request) -> Response:
    return _error(405, "UnsupportedHttpVerb", f"{req.method} is not supported.")


# ------------------------------------------------------------------------------------------------- helpers
def _check_shared_key(app: AppState, method: str, raw_path: str, query: dict, hdrs: dict) -> None:
    """Verify the SharedKey signature like Azure Storage does (so a wrong account key is caught)."""
    x_ms = sorted((k, v) for k, v in hdrs.items() if k.startswith("x-ms-"))
    canon_headers = "".join(f"{k}:{v}\n" for k, v in x_ms)
    canon_resource = f"/{BLOB_ACCOUNT}{raw_path}"  # path style: '/<account>/<account>/<container>/<blob>'
    for k in sorted(query):
        canon_resource += f"\n{k.lower()}:{query[k]}"
    signed = []
    for name in ("content-encoding", "content-language", "content-length", "content-md5", "content-type",
                 "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since"):
        value = hdrs.get(name, "")
        if name == "content-length" and value == "0":
            value = ""
        signed.append(value)
    string_to_sign = method + "\n" + "\n".join(signed) + "\n\n" + canon_headers + canon_resource
    expected = base64.b64encode(
        hmac.new(base64.b64decode(app.account_key), string_to_sign.encode(), hashlib.sha256).digest()
    ).decode()
    given = hdrs.get("authorization", "").split(":", 1)[-1]
    if not secrets.compare_digest(expected, given):
        raise ApiError(403, "AuthenticationFailed",
                       "Server failed to authenticate the request. Make sure the value of the Authorization "
                       "header is formed correctly including the signature.")


SAS_VERSION = "2021-08-06"
SAS_PERMISSIONS = "rcuwdl"


def _sas_string(fields: dict) -> str:
    """An account SAS string-to-sign (the Azure Storage layout for versions from 2020-12-06)."""
    return "\n".join([BLOB_ACCOUNT, fields.get("sp", ""), fields.get("ss", ""), fields.get("srt", ""),
                      fields.get("st", ""), fields.get("se", ""), fields.get("sip", ""), fields.get("spr", ""),
                      fields.get("sv", ""), fields.get("ses", ""), ""])


def _sas_sig(app: AppState, fields: dict) -> str:
    key = base64.b64decode(app.account_key)
    return base64.b64encode(hmac.new(key, _sas_string(fields).encode(), hashlib.sha256).digest()).decode()


def make_sas(app: AppState, hours: float = 1.0) -> str:
    """An account SAS for the blob service (``?sv=...&sig=...``, fact 27), valid ``hours`` hours."""
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + max(hours, 0.01) * 3600))
    fields = {"sv": SAS_VERSION, "ss": "bf", "srt": "co", "sp": SAS_PERMISSIONS, "se": expiry, "spr": "https"}
    fields["sig"] = _sas_sig(app, fields)
    return "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items())


def _check_sas(app: AppState, req: Request) -> None:
    q = req.query
    if not secrets.compare_digest(_sas_sig(app, q), q.get("sig", "")):
        raise ApiError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value "
                       "of the sig query parameter is formed correctly.")
    try:
        expired = time.strptime(q.get("se", ""), "%Y-%m-%dT%H:%M:%SZ") < time.gmtime()
    except ValueError:
        expired = True
    if expired:
        raise ApiError(403, "AuthenticationFailed", "Signed expiry time has to be after the current time.")
    needed = {"GET": "r", "HEAD": "r", "PUT": "w", "DELETE": "d"}.get(req.method, "w")
    if q.get("comp") == "list":
        needed = "l"
    if needed not in q.get("sp", ""):
        raise ApiError(403, "AuthorizationPermissionMismatch",
                       "This request is not authorized to perform this operation using this permission.")


def _check_bearer(token: str) -> None:
    """An Azure AD token for storage (what the SDK sends for an identity-based datastore): only its audience is
    checked, as the emulator's credential signs nothing."""
    import json

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise ApiError(401, "InvalidAuthenticationInfo", "Authentication information is not given in the correct "
                       "format.") from None
    if not str(claims.get("aud", "")).rstrip("/").endswith("storage.azure.com"):
        raise ApiError(401, "InvalidAuthenticationInfo", "Audience validation failed: the token is not for "
                       "Azure Storage.")


def crc64(data: bytes) -> bytes:
    """The CRC-64 Azure Storage reports in ``x-ms-content-crc64`` (polynomial 0x9A6C9329AC4BC9B5, reflected)."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C9329AC4BC9B5 if crc & 1 else 0)
    return (crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def _write(app: AppState, data: bytes, hdrs: dict, now: float) -> dict:
    sha = hashlib.sha256(data).hexdigest()
    if sha not in app.blob_data:
        app.blob_data[sha] = data
        if app.state_dir is not None:
            folder = app.state_dir / "blobs"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / sha).write_bytes(data)
    return {"sha": sha, "size": len(data), "metadata": _meta(hdrs), "modified": now,
            "md5": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "content_type": hdrs.get("x-ms-blob-content-type", "application/octet-stream")}


def _read(app: AppState, rec: dict) -> bytes:
    sha = rec["sha"]
    if sha not in app.blob_data and app.state_dir is not None:
        try:
            app.blob_data[sha] = (app.state_dir / "blobs" / sha).read_bytes()
        except OSError:
            return b""
    return app.blob_data.get(sha, b"")


def _meta(hdrs: dict) -> dict:
    return {k[len("x-ms-meta-"):]: v for k, v in hdrs.items() if k.startswith("x-ms-meta-")}


def _headers(ts: float, rec: Optional[dict] = None) -> dict:
    headers = {"Last-Modified": http_date(ts), "ETag": f'"0x{int(ts * 1e6):X}"', "x-ms-version": "2021-08-06"}
    if rec is not None:
        headers["x-ms-blob-type"] = "BlockBlob"
        if rec.get("md5"):
            headers["Content-MD5"] = rec["md5"]
        for k, v in rec.get("metadata", {}).items():
            headers[f"x-ms-meta-{k}"] = v
    return headers


def _error(status: int, code: str, message: str, head: bool = False) -> Response:
    body = None if head else (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>'
                              f"{xml_escape(message)}</Message></Error>").encode()
    return Response(status, body, {"x-ms-error-code": code, "Content-Type": "application/xml"})


add_routes(
    ("blob/container", "*", container_op),
    ("blob/blob", "GET", read_blob),
    ("blob/blob", "HEAD", read_blob),
    ("blob/blob", "PUT", put_blob),
    ("blob/blob", "DELETE", delete_blob),
    ("blob/blob", "*", _unsupported_verb),
)
