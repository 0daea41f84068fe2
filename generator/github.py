"""The two GitHub writes the workflows make, as amlgen commands so they are tested like the rest:

* ``amlgen github comment``: ONE pull-request comment per marker, created once and then edited in place on
  every push (the plan of the change), never a new comment each time;
* ``amlgen github issue``: ONE open issue per marker (drift), opened when there is something to report and
  updated afterwards; ``--resolved`` closes it (with a comment) once the drift is gone.

Both find their own comment or issue by a hidden marker (``<!-- amlgen:<marker> -->``) in its body. They use the
GitHub REST API (``GITHUB_API_URL``, default https://api.github.com) with the workflow's ``GITHUB_TOKEN``
(or ``GH_TOKEN``) and ``GITHUB_REPOSITORY``; the token is sent only to that API and never printed.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from .errors import AmlgenError, UsageProblem

API_VERSION = "2022-11-28"
MAX_BODY = 65_000  # GitHub refuses comment and issue bodies over 65,536 characters
MARKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NEXT_RE = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(AmlgenError):
    """The GitHub API could not be used (missing settings, HTTP error)."""


@dataclass(frozen=True)
class GitHub:
    api: str
    repo: str
    token: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> GitHub:
        env = os.environ if environ is None else environ
        token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or ""
        repo = env.get("GITHUB_REPOSITORY", "")
        missing = [name for name, value in (("GITHUB_TOKEN (or GH_TOKEN)", token), ("GITHUB_REPOSITORY", repo))
                   if not value]
        if missing:
            raise GitHubError(f"missing environment variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)} "
                              "(set by GitHub Actions; pass the token as `env: GITHUB_TOKEN: ${{ github.token }}`)")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
            raise GitHubError(f"GITHUB_REPOSITORY must be owner/name, got {repo!r}")
        api = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
        if urllib.parse.urlsplit(api).scheme not in ("https", "http"):
            raise GitHubError(f"GITHUB_API_URL must be an http(s) URL, got {api!r}")
        return cls(api, repo, token)

    # -- HTTP
    def request(self, method: str, path_or_url: str, body: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        url = path_or_url if path_or_url.startswith(self.api) else f"{self.api}{path_or_url}"
        if urllib.parse.urlsplit(url)[:2] != urllib.parse.urlsplit(self.api)[:2]:
            raise GitHubError(f"refusing to send the token outside {self.api}: {url}")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/vnd.github+json", "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION, "User-Agent": "amlgen", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - the API URL only
                raw = resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                detail = str(json.loads(exc.read() or b"{}").get("message", ""))
            except (ValueError, AttributeError):
                pass
            hint = " (the workflow job needs `permissions:` for it)" if exc.code in (401, 403, 404) else ""
            raise GitHubError(f"GitHub API {method} {urllib.parse.urlsplit(url).path}: HTTP {exc.code}"
                              f"{': ' + detail[:200] if detail else ''}{hint}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise GitHubError(f"GitHub API unreachable at {self.api}: {getattr(exc, 'reason', exc)}") from None
        return (json.loads(raw) if raw.strip() else None), headers

    def pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list (following the ``Link: rel="next"`` header)."""
        out: list[dict[str, Any]] = []
        url: str | None = path
        for _ in range(100):
            if url is None:
                break
            data, headers = self.request("GET", url)
            if not isinstance(data, list):
                raise GitHubError(f"GitHub API GET {path}: expected a list")
            out.extend(d for d in data if isinstance(d, dict))
            found = NEXT_RE.search(headers.get("link", ""))
            url = found.group(1) if found else None
        return out


def marker_text(marker: str) -> str:
    if not MARKER_RE.match(marker):
        raise UsageProblem(f"--marker must be letters, digits, '.', '_' or '-' (at most 64), got {marker!r}")
    return f"<!-- amlgen:{marker} -->"


def with_marker(body: str, marker: str) -> str:
    tag = marker_text(marker)
    body = body.rstrip("\n")
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY] + "\n\n… (cut: the full text is in the workflow run's summary)"
    return f"{tag}\n{body}\n"


def upsert_comment(gh: GitHub, number: int, marker: str, body: str) -> tuple[str, str]:
    """Edit this marker's comment on issue/PR ``number`` or create it: ("updated"|"created", its URL)."""
    tag = marker_text(marker)
    text = with_marker(body, marker)
    mine = [c for c in gh.pages(f"/repos/{gh.repo}/issues/{number}/comments?per_page=100")
            if tag in str(c.get("body", ""))]
    if mine:
        data, _ = gh.request("PATCH", f"/repos/{gh.repo}/issues/comments/{mine[0]['id']}", {"body": text})
        return "updated", str((data or {}).get("html_url", ""))
    data, _ = gh.request("POST", f"/repos/{gh.repo}/issues/{number}/comments", {"body": text})
    return "created", str((data or {}).get("html_url", ""))


def upsert_issue(gh: GitHub, marker: str, title: str, body: str, *, labels: list[str] | None = None,
                 resolved: bool = False) -> tuple[str, str]:
    """Open or update the one open issue of ``marker``; with ``resolved`` close it if open.

    Returns (created | updated | closed | none, the issue's URL or "")."""
    tag = marker_text(marker)
    open_issues = [i for i in gh.pages(f"/repos/{gh.repo}/issues?state=open&per_page=100")
                   if tag in str(i.get("body") or "") and "pull_request" not in i]
    found = min(open_issues, key=lambda i: int(i.get("number", 0))) if open_issues else None
    if resolved:
        if found is None:
            return "none", ""
        gh.request("POST", f"/repos/{gh.repo}/issues/{found['number']}/comments", {"body": body.rstrip() + "\n"})
        data, _ = gh.request("PATCH", f"/repos/{gh.repo}/issues/{found['number']}",
                             {"state": "closed", "state_reason": "completed"})
        return "closed", str((data or {}).get("html_url", found.get("html_url", "")))
    text = with_marker(body, marker)
    if found is not None:
        data, _ = gh.request("PATCH", f"/repos/{gh.repo}/issues/{found['number']}", {"title": title, "body": text})
        return "updated", str((data or {}).get("html_url", ""))
    payload: dict[str, Any] = {"title": title, "body": text}
    if labels:
        payload["labels"] = labels
    data, _ = gh.request("POST", f"/repos/{gh.repo}/issues", payload)
    return "created", str((data or {}).get("html_url", ""))
