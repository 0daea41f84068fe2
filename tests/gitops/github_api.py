"""A loopback stand-in for the parts of the GitHub REST API the workflows use (through ``amlgen github``).

Shapes from docs.github.com/rest: "Issue comments" (``GET /repos/{owner}/{repo}/issues/{number}/comments``,
``POST`` the same path, ``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``) and "Issues"
(``GET /repos/{owner}/{repo}/issues?state=open``, which also lists pull requests, marked by a ``pull_request``
key; ``POST /repos/{owner}/{repo}/issues``; ``PATCH /repos/{owner}/{repo}/issues/{number}`` with ``state`` and
``state_reason``). Lists are paginated with ``per_page``/``page`` and a ``Link: <url>; rel="next"`` header; this
server pages by 2 whatever ``per_page`` says, so a client that ignores the Link header misses items. Requests
without ``Authorization: Bearer <token>`` get 401.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = 2


@dataclass
class FakeGitHub:
    repo: str = "example/amlgen-project"
    token: str = "rehearsal-token"
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue/PR number -> comments
    issues: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000
    url: str = ""

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    # -- helpers for tests
    def add_comment(self, number: int, body: str, user: str = "someone") -> None:
        with self.lock:
            self.next_id += 1
            self.comments.setdefault(number, []).append({"id": self.next_id, "body": body, "user": {"login": user},
                                                         "html_url": f"https://github.test/c/{self.next_id}"})

    def add_issue(self, title: str, body: str, *, pull_request: bool = False, state: str = "open") -> int:
        with self.lock:
            number = len(self.issues) + 1
            item = {"number": number, "title": title, "body": body, "state": state, "labels": [],
                    "html_url": f"https://github.test/issues/{number}"}
            if pull_request:
                item["pull_request"] = {"url": "x"}
            self.issues.append(item)
            return number

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # -- the server
    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
        self.requests.append((method, raw_path))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        url = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(url.query)
        prefix = f"/repos/{self.repo}/"
        if not url.path.startswith(prefix):
            return 404, {"message": "Not Found"}, {}
        parts = url.path[len(prefix):].split("/")
        data = json.loads(body) if body else {}
        with self.lock:
            if parts[:1] == ["issues"] and len(parts) == 3 and parts[2] == "comments":
                number = int(parts[1])
                if method == "GET":
                    return self._page(self.comments.get(number, []), url.path, query)
                if method == "POST":
                    self.next_id += 1
                    item = {"id": self.next_id, "body": data["body"], "user": {"login": "github-actions[bot]"},
                            "html_url": f"https://github.test/c/{self.next_id}"}
                    self.comments.setdefault(number, []).append(item)
                    return 201, item, {}
            if parts[:2] == ["issues", "comments"] and len(parts) == 3 and method == "PATCH":
                for items in self.comments.values():
                    for item in items:
                        if item["id"] == int(parts[2]):
                            item["body"] = data["body"]
                            return 200, item, {}
                return 404, {"message": "Not Found"}, {}
            if parts == ["issues"]:
                if method == "GET":
                    state = query.get("state", ["open"])[0]
                    items = [i for i in self.issues if state == "all" or i["state"] == state]
                    return self._page(items, url.path, query)
                if method == "POST":
                    number = len(self.issues) + 1
                    item = {"number": number, "title": data["title"], "body": data.get("body", ""), "state": "open",
                            "labels": [{"name": n} for n in data.get("labels", [])],
                            "html_url": f"https://github.test/issues/{number}"}
                    self.issues.append(item)
                    return 201, item, {}
            if parts[:1] == ["issues"] and len(parts) == 2 and method == "PATCH":
                for item in self.issues:
                    if item["number"] == int(parts[1]):
                        for key in ("title", "body", "state", "state_reason"):
                            if key in data:
                                item[key] = data[key]
                        return 200, item, {}
                return 404, {"message": "Not Found"}, {}
        return 404, {"message": f"not implemented here: {method} {url.path}"}, {}

    def _page(self, items: list[dict[str, Any]], path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict]:
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * PAGE: page * PAGE]
        headers = {}
        if page * PAGE < len(items):
            q = {k: v[0] for k, v in query.items()}
            q["page"] = str(page + 1)
            headers["Link"] = f'<{self.url}{path}?{urllib.parse.urlencode(q)}>; rel="next"'
        return 200, chunk, headers

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload, extra = fake.handle(self.command, self.path, self.headers, self.rfile.read(length))
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
