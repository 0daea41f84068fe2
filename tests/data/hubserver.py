"""A loopback emulator of the Hugging Face Hub HTTP API (the read-only subset huggingface_hub 2.4.0 uses), for tests.

API: ``hub = HubServer()``; ``sha = hub.add_dataset("org/name", {"data/x.parquet": b"..."}, branch="main",
private=False)``; ``with hub.serving() as endpoint, use_endpoint(endpoint, tmp_path / "hf-home"): ...``; then
``hub.requests`` (``Request(method, path, range, status, query)``), ``hub.calls(method, path_contains)``,
``hub.bytes_sent_for("data/x.parquet")``, ``hub.clear_log()``, ``hub.fail_next(n, status=503, method=None,
path_contains=None)``, ``hub.download_delay``/``hub.max_downloads_in_flight`` (concurrency of whole-file GETs). Stdlib only; ``use_endpoint`` imports huggingface_hub lazily.

Protocol, read from the installed huggingface_hub 2.4.0 (its HTTP client is ``httpx2``):

* ``hf_api.py:HfApi.dataset_info``/``repo_info``: ``GET /api/datasets/{id}`` (revision None) or ``.../revision/
  {quote(rev, safe='')}``, ``?blobs=true`` if ``files_metadata``; parsed by ``DatasetInfo`` (``sha``,
  ``siblings[].rfilename|size|blobId|lfs{sha256,size,pointerSize}``).
* ``hf_api.py:HfApi._iter_repo_tree_pages`` (``list_repo_tree``/``list_repo_files``): ``GET /api/datasets/{id}/tree/
  {rev}[/{path}]?recursive=true|false&expand=false`` -> ``[{type: file|directory, oid, size, path, lfs{oid,size,
  pointerSize}}]`` (``RepoFile``/``RepoFolder``); one page, no ``Link: next``. ``HfApi.get_paths_info``: ``POST
  /api/datasets/{id}/paths-info/{rev}``, form ``paths=..&paths=..&expand=false``.
* ``file_download.py:get_hf_file_metadata``/``_get_metadata_or_catch_error``: ``HEAD /datasets/{id}/resolve/{rev}/
  {path}`` must carry ``X-Repo-Commit`` (else ``FileMetadataError``); etag = ``X-Linked-Etag`` or ``ETag`` (the cache
  blob name), size = ``X-Linked-Size`` or ``Content-Length``; then ``http_get`` GETs the same URL. An ``X-Xet-Hash``
  header (or ``xetHash`` in the tree) would hand the download to hf_xet: never sent here. The Hub 302s LFS files
  to a CDN; this server answers 200/206 directly (no ``Location``), which the client handles the same way.
* ``hf_file_system.py:HfFileSystemFile``: size from ``info()`` = the non-recursive tree of the parent folder, then
  ``_fetch_range``: ``GET .../resolve/...`` + ``Range: bytes=a-b`` -> 206 + ``Content-Range``.
* ``utils/_http.py:hf_raise_for_status``: ``X-Error-Code`` RepoNotFound/RevisionNotFound/EntryNotFound ->
  ``RepositoryNotFoundError``/``RevisionNotFoundError``/``RemoteEntryNotFoundError``; 401 on a repo URL (private
  repo, no valid token) -> ``RepositoryNotFoundError`` too.

Retries (``utils/_http.py:_http_backoff_base``): ``http_backoff`` retries 408/429/500/502/503/504 5 times, sleeping
1, 2, 4, 8, 8 s (``Retry-After: n`` sleeps n+1 s); it wraps tree listings, ``HfFileSystem`` range reads and
``hf_hub_download``'s *second* HEAD. Never retried: ``dataset_info``/``repo_info``, ``get_paths_info``,
``hf_hub_download``'s first HEAD (a 5xx with nothing cached triggers the second) and its body GET (``http_get``:
408/429 only). So a 503 on ``dataset_info`` or on the resolve GET raises ``HfHubHTTPError`` at once and one failed
HEAD is recovered without sleeping; any other injected failure costs >= 1 s.

Pointing huggingface_hub here: ``HF_*`` env vars are read once, at ``import huggingface_hub.constants``. Later,
patching ``constants.ENDPOINT`` is not enough: ``hf_hub_url`` uses ``constants.HUGGINGFACE_CO_URL_TEMPLATE``;
``hf_api.api`` (behind ``huggingface_hub.dataset_info``), ``hf_file_system.hffs`` and any ``HfApi`` built earlier
keep their endpoint; offline mode is ``constants.HF_HUB_OFFLINE`` (read live by ``is_offline_mode``);
``utils/_cache_manager.HF_HUB_CACHE`` is bound by value. ``use_endpoint()`` sets the env vars AND patches all that,
resets ``HfFileSystem`` instances and the shared client (guarded: a request to another origin raises RuntimeError),
and restores everything on exit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".gz", ".zst", ".zip", ".tar", ".npy")
DATE = "2024-01-01T00:00:00.000Z"
_TYPES = {"datasets": "dataset", "models": "model", "spaces": "space"}
_SHA = re.compile(r"[0-9a-f]{40}")
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


class Request(NamedTuple):
    """One logged request: ``path`` is percent-decoded and without the query string."""
    method: str
    path: str
    range: str | None
    status: int
    query: str = ""


class _Blob(NamedTuple):
    data: bytes
    lfs: bool
    oid: str  # git blob sha1
    sha256: str

    @classmethod
    def of(cls, data: bytes, lfs: bool) -> _Blob:
        git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return cls(data, lfs, git_oid, hashlib.sha256(data).hexdigest())

    def entry(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "file", "oid": self.oid, "size": len(self.data), "path": path}
        if self.lfs:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n"
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(pointer)}
        return out


@dataclass
class _Repo:
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, _Blob]] = field(default_factory=dict)


class _Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes
    file: tuple[str, str] | None = None  # (repo_id, path) whose content is in the body


def _json(obj: Any, status: int = 200) -> _Reply:
    return _Reply(status, {"Content-Type": "application/json"}, json.dumps(obj).encode())


def _error(status: int, code: str | None, message: str, **extra: str) -> _Reply:
    headers = {"Content-Type": "application/json", "X-Error-Message": message, **extra}
    if code:
        headers["X-Error-Code"] = code
    return _Reply(status, headers, json.dumps({"error": message}).encode())


def _dir_entry(path: str, commit: str) -> dict[str, Any]:
    oid = hashlib.sha1(f"tree {commit} {path}".encode()).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


class HubServer:
    """In-memory repos (commits, branches) + a threaded loopback server; see the module docstring."""

    def __init__(self, token: str = "hf_emulator_token") -> None:
        self.token = token  # the only token accepted for private repos
        self.requests: list[Request] = []
        self.endpoint: str | None = None
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._sent: dict[tuple[str, str], int] = {}
        self._failures: list[list[Any]] = []  # [remaining, status, method, path_contains]
        self._lock = threading.Lock()
        self.download_delay = 0.0  # seconds before answering a whole-file GET (to make concurrency observable)
        self.max_downloads_in_flight = 0  # the most whole-file GETs answered at the same time
        self._in_flight = 0

    # ----------------------------------------------------------------- setup / inspection
    def add_dataset(self, repo_id: str, files: dict[str, bytes], *, branch: str = "main", private: bool = False,
                    repo_type: str = "dataset") -> str:
        """Commit ``files`` (the whole tree) on ``branch`` and return the commit sha (40 hex, deterministic).

        Calling it again moves the branch; older commits stay resolvable by sha. ``private`` repos need
        ``Authorization: Bearer <self.token>``. Files ending with ``LFS_SUFFIXES`` are LFS (etag = sha256)."""
        repo = self._repos.setdefault((repo_type, repo_id), _Repo())
        repo.private = private
        blobs = {path: _Blob.of(data, path.endswith(LFS_SUFFIXES)) for path, data in files.items()}
        manifest = "".join(f"{p} {b.sha256}\n" for p, b in sorted(blobs.items()))
        parent = repo.branches.get(branch, "")
        sha = hashlib.sha1(f"{repo_type}/{repo_id}\n{branch}\n{parent}\n{manifest}".encode()).hexdigest()
        repo.commits[sha] = blobs
        repo.branches[branch] = sha
        return sha

    def fail_next(self, n: int = 1, status: int = 503, *, method: str | None = None,
                  path_contains: str | None = None) -> None:
        """Answer the next ``n`` matching requests with ``status`` (no ``X-Error-Code``)."""
        with self._lock:
            self._failures.append([n, status, method, path_contains])

    def bytes_sent_for(self, filename: str, repo_id: str | None = None) -> int:
        """Body bytes of ``filename`` served so far (GET only, full or ranged), over all repos unless given."""
        with self._lock:
            return sum(n for (rid, path), n in self._sent.items() if path == filename and repo_id in (None, rid))

    def calls(self, method: str | None = None, path_contains: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if method in (None, r.method) and path_contains in r.path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self._sent.clear()

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on 127.0.0.1 (random port) in a thread; yields the endpoint ``http://127.0.0.1:PORT``."""
        handler = type("_BoundHandler", (_Handler,), {"hub": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # daemon_threads: keep-alive threads never block
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self.endpoint
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    # ----------------------------------------------------------------- request handling
    def handle(self, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Answer one request (``headers`` with lower-case names); the HTTP handler only adds logging and I/O."""
        with self._lock:
            for rule in self._failures:
                if rule[0] > 0 and rule[2] in (None, method) and (rule[3] or "") in unquote(raw_path):
                    rule[0] -= 1
                    return _error(rule[1], None, "Injected failure")
        # split before unquoting: revisions are quoted with safe="" (refs%2Fconvert%2Fparquet)
        parts = [unquote(p) for p in raw_path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in _TYPES:
            rtype, repo_id, rest = _TYPES[parts[1]], "/".join(parts[2:4]), parts[4:] or ["info", "main"]
            allowed = ("POST",) if rest[0] == "paths-info" else ("GET",)
            kinds = ("info", "revision", "tree", "paths-info")
        else:  # /{datasets|spaces/}{org}/{name}/resolve/{rev}/{path}; models have no prefix
            rtype, parts = (_TYPES[parts[0]], parts[1:]) if parts[0] in ("datasets", "spaces") else ("model", parts)
            repo_id, rest, allowed, kinds = "/".join(parts[:2]), parts[2:], ("GET", "HEAD"), ("resolve",)
        if len(rest) < 2 or rest[0] not in kinds or method not in allowed:
            return _error(404, None, "Not Found")
        kind, rev, path = rest[0], rest[1], "/".join(rest[2:])
        repo = self._repos.get((rtype, repo_id))
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        if repo.private and headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "RepoNotFound", "Invalid username or password.")
        sha = repo.branches.get(rev) or (rev if _SHA.fullmatch(rev) and rev in repo.commits else None)
        if sha is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        files = repo.commits[sha]
        if kind == "tree":
            return self._tree(sha, files, path, parse_qs(query).get("recursive", [""])[0].lower() in ("true", "1"))
        if kind == "paths-info":
            return self._paths_info(sha, files, parse_qs(body.decode()).get("paths", []))
        if kind == "resolve":
            return self._resolve(repo_id, sha, files, path, headers.get("range"))
        siblings: list[dict[str, Any]] = []
        blobs = parse_qs(query).get("blobs", [""])[0].lower() in ("true", "1")
        for name, blob in sorted(files.items()):
            siblings.append({"rfilename": name})
            if blobs:
                siblings[-1].update(size=len(blob.data), blobId=blob.oid)
                if blob.lfs:
                    siblings[-1]["lfs"] = {**blob.entry(name)["lfs"], "sha256": blob.sha256}
        return _json({"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id,
                      "author": repo_id.split("/")[0], "sha": sha, "lastModified": DATE, "createdAt": DATE,
                      "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                      "tags": [], "siblings": siblings, "usedStorage": sum(len(b.data) for b in files.values())})

    @staticmethod
    def _tree(sha: str, files: dict[str, _Blob], base: str, recursive: bool) -> _Reply:
        prefix = f"{base}/" if base else ""
        dirs: set[str] = set()
        out: list[dict[str, Any]] = []
        for path, blob in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            segments = path[len(prefix):].split("/")
            for i in range(1, len(segments) if recursive else min(2, len(segments))):
                dirs.add(prefix + "/".join(segments[:i]))
            if recursive or len(segments) == 1:
                out.append(blob.entry(path))
        if base and not out and not dirs:
            return _error(404, "EntryNotFound", f"{base} does not exist", **{"X-Repo-Commit": sha})
        return _json([_dir_entry(d, sha) for d in sorted(dirs)] + out)

    @staticmethod
    def _paths_info(sha: str, files: dict[str, _Blob], paths: list[str]) -> _Reply:
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(files[path].entry(path))
            elif any(p.startswith(path + "/") for p in files):
                out.append(_dir_entry(path, sha))
        return _json(out)

    @staticmethod
    def _resolve(repo_id: str, sha: str, files: dict[str, _Blob], path: str, rng: str | None) -> _Reply:
        blob = files.get(path)
        if blob is None:
            return _error(404, "EntryNotFound", "Entry not found", **{"X-Repo-Commit": sha})
        etag = f'"{blob.sha256 if blob.lfs else blob.oid}"'
        out = {"X-Repo-Commit": sha, "ETag": etag, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if blob.lfs:  # what the Hub puts on its redirect to the CDN; kept although we serve the bytes directly
            out.update({"X-Linked-Etag": etag, "X-Linked-Size": str(len(blob.data))})
        data, total = blob.data, len(blob.data)
        if rng is None:
            return _Reply(200, out, data, (repo_id, path))
        m = _RANGE.fullmatch(rng)
        first, last = (m.group(1), m.group(2)) if m else ("", "")
        if first:
            start, end = int(first), min(int(last) if last else total - 1, total - 1)
        elif last:  # suffix range: the last N bytes
            start, end = max(total - int(last), 0), total - 1
        else:
            start, end = total, -1
        if start > end or start >= total:
            return _error(416, None, "Range Not Satisfiable", **{"Content-Range": f"bytes */{total}"})
        out["Content-Range"] = f"bytes {start}-{end}/{total}"
        return _Reply(206, out, data[start:end + 1], (repo_id, path))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr logging
        pass

    def do_GET(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        download = self.command == "GET" and "/resolve/" in url.path and "range" not in headers
        if download:
            with self.hub._lock:
                self.hub._in_flight += 1
                self.hub.max_downloads_in_flight = max(self.hub.max_downloads_in_flight, self.hub._in_flight)
        try:
            time.sleep(self.hub.download_delay if download else 0)
            reply = self.hub.handle(self.command, url.path, url.query, headers, body)
        finally:
            if download:
                with self.hub._lock:
                    self.hub._in_flight -= 1
        head = self.command == "HEAD"
        with self.hub._lock:  # logged before answering, so the client never sees an answer that is not logged yet
            self.hub.requests.append(Request(self.command, unquote(url.path), headers.get("range"), reply.status,
                                             url.query))
            if reply.file and not head:
                self.hub._sent[reply.file] = self.hub._sent.get(reply.file, 0) + len(reply.body)
        self.send_response(reply.status)
        for key, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)

    do_HEAD = do_POST = do_GET


@contextlib.contextmanager
def use_endpoint(endpoint: str, hf_home: str | os.PathLike[str], *, guard: bool = True) -> Iterator[None]:
    """Make ``endpoint`` and an isolated ``hf_home`` effective for this process (already-imported huggingface_hub
    included): online mode, no telemetry, no token. With ``guard``, any request to another origin raises
    RuntimeError. Everything is restored on exit."""
    import huggingface_hub
    from huggingface_hub import constants as c
    from huggingface_hub import hf_api, hf_file_system
    from huggingface_hub.utils import _cache_manager, _http

    home = os.fspath(hf_home)
    path = {name: os.path.join(home, name) for name in ("hub", "assets", "xet", "token", "stored_tokens")}
    env: dict[str, str | None] = {
        "HF_ENDPOINT": endpoint, "HF_HOME": home, "HF_HUB_CACHE": path["hub"], "HF_TOKEN_PATH": path["token"],
        "HF_XET_CACHE": path["xet"], "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_TOKEN": None, "HUGGING_FACE_HUB_TOKEN": None,
        "HUGGINGFACE_CO_STAGING": None, "NO_PROXY": "127.0.0.1,localhost",
    }
    origin = _http._url_origin(endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    consts = {"ENDPOINT": endpoint, "HUGGINGFACE_CO_URL_TEMPLATE": template,
              "HF_URL_HOSTS": c.HF_URL_HOSTS | {origin[1]}, "HF_HOME": home, "HF_XET_CACHE": path["xet"],
              "HF_HUB_CACHE": path["hub"], "HUGGINGFACE_HUB_CACHE": path["hub"], "HF_ASSETS_CACHE": path["assets"],
              "HUGGINGFACE_ASSETS_CACHE": path["assets"], "HF_TOKEN_PATH": path["token"],
              "HF_STORED_TOKENS_PATH": path["stored_tokens"], "HF_HUB_OFFLINE": False,
              "HF_HUB_DISABLE_TELEMETRY": True, "HF_HUB_DISABLE_UPDATE_CHECK": True}
    patches: list[tuple[Any, str, Any]] = [(c, name, value) for name, value in consts.items()] + [
        (hf_api.api, "endpoint", endpoint), (hf_file_system.hffs, "endpoint", endpoint),
        (hf_file_system.hffs._api, "endpoint", endpoint), (_cache_manager, "HF_HUB_CACHE", path["hub"]),
        (_http, "_HUB_ORIGINS", _http._HUB_ORIGINS | {origin})]
    old_env = {k: os.environ.get(k) for k in env}
    old_attrs = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    old_factory = _http._GLOBAL_CLIENT_FACTORY

    def check_origin(request: Any) -> None:
        if _http._url_origin(str(request.url)) != origin:
            raise RuntimeError(f"hubserver guard: blocked a request to {request.url} (only {endpoint} is allowed)")

    def guarded_factory() -> Any:
        client = old_factory()
        client.event_hooks["request"].insert(0, check_origin)
        return client

    try:
        _set_env(env)
        for obj, name, value in patches:
            setattr(obj, name, value)
        huggingface_hub.HfFileSystem.clear_instance_cache()
        _http.set_client_factory(guarded_factory if guard else old_factory)  # also closes the shared client
        yield
    finally:
        _http.set_client_factory(old_factory)
        huggingface_hub.HfFileSystem.clear_instance_cache()
        for obj, name, value in reversed(old_attrs):
            setattr(obj, name, value)
        _set_env(old_env)


def _set_env(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
