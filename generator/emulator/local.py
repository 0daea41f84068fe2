"""Client-side glue for talking to an emulator with the unmodified azure-ai-ml SDK.

Only configuration, never patches of SDK methods:

- ``local_cloud_kwargs(base_url)`` -> keyword arguments for ``MLClient`` registering a custom cloud whose
  endpoints are all the emulator (a unique cloud name per base URL, because the SDK's cloud registry is
  process-global and never overwrites a name);
- ``EmulatorCredential`` -> a ``TokenCredential`` issuing unsigned JWTs (``aud`` = the scope's resource, so
  pipeline-job submission, which decodes the token for ``<aml_resource_id>/.default``, is satisfied);
- ``prepare_process_for_emulator(base_url, ca_path)`` -> sets ``REQUESTS_CA_BUNDLE`` to the emulator CA
  (overwritten: the machine may already set it), points
  ``azure.ai.ml.constants._common.STORAGE_ACCOUNT_URLS`` at the emulator (path style ``<base>/<account>``), sets
  ``AZUREML_RUN_POLLING_INTERVAL_MIN/MAX`` to 0 and, because ``RunHistoryConstants`` reads them at import
  time, also sets the class attributes when ``azure.ai.ml`` is already imported (so the call order does not
  matter). It returns a ``Restore`` object: call it (or use it as a context manager) to undo everything,
  including the ``AZUREML_CURRENT_CLOUD`` variable that ``MLClient(cloud=...)`` sets.

Typical use::

    restore = prepare_process_for_emulator(emu.base_url, emu.ca_path)
    client = MLClient(EmulatorCredential(), emu.subscription_id, emu.resource_group, emu.workspace_name,
                      **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)
    ...
    restore()
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
from typing import Any, Optional

_ENV_KEYS = (
    "REQUESTS_CA_BUNDLE",
    "AZUREML_RUN_POLLING_INTERVAL_MIN",
    "AZUREML_RUN_POLLING_INTERVAL_MAX",
    "AZUREML_CURRENT_CLOUD",
)


def _norm(base_url: str) -> str:
    return base_url if base_url.endswith("/") else base_url + "/"


def cloud_name(base_url: str) -> str:
    """The custom cloud name used for an emulator base URL (unique per URL)."""
    digest = hashlib.sha256(_norm(base_url).encode()).hexdigest()[:12]
    return f"AmlgenEmulator{digest}"


def cloud_metadata(base_url: str) -> dict:
    """The ``cloud_metadata`` describing an emulator as an Azure cloud."""
    base = _norm(base_url)
    return {
        "azure_portal": base,
        "resource_manager": base,
        "active_directory": base,
        "aml_resource_id": base,
        "registry_discovery_endpoint": base,
        "storage_endpoint": "core.windows.net",
    }


def local_cloud_kwargs(base_url: str) -> dict:
    """``MLClient`` keyword arguments (``cloud``, ``cloud_metadata``) that send every call to the emulator.

    The SDK refuses to re-register a cloud name with different metadata and silently keeps the first one, so the
    name is derived from the base URL; registering the same URL twice is harmless (the metadata is identical).
    """
    return {"cloud": cloud_name(base_url), "cloud_metadata": cloud_metadata(base_url)}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class EmulatorCredential:
    """A ``TokenCredential`` (and ``SupportsTokenInfo``) issuing unsigned JWTs for the emulator.

    The token's ``aud`` is the requested scope without ``/.default`` (for the AML scope this equals the cloud's
    ``aml_resource_id``, as the SDK's pipeline-job submission checks). Tokens carry fixed test identities only.
    """

    def __init__(self, object_id: str = "00000000-0000-0000-0000-0000000000aa",
                 tenant_id: str = "00000000-0000-0000-0000-000000000001", lifetime: int = 3600) -> None:
        self.object_id = object_id
        self.tenant_id = tenant_id
        self.lifetime = lifetime

    def _token(self, scopes: tuple, tenant_id: Optional[str]) -> tuple[str, int]:
        scope = scopes[0] if scopes else "https://management.azure.com/.default"
        aud = scope[: -len("/.default")] if scope.endswith("/.default") else scope
        now = int(time.time())
        exp = now + self.lifetime
        claims = {
            "aud": aud, "iss": f"https://sts.windows.net/{tenant_id or self.tenant_id}/", "iat": now, "nbf": now,
            "exp": exp, "oid": self.object_id, "tid": tenant_id or self.tenant_id, "sub": self.object_id,
            "upn": "emulator@amlgen.local", "name": "amlgen emulator", "appid": "amlgen-emulator",
        }
        header = {"alg": "none", "typ": "JWT"}
        token = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}.c2ln"
        return token, exp

    def get_token(self, *scopes: str, claims: Optional[str] = None, tenant_id: Optional[str] = None,
                  enable_cae: bool = False, **kwargs: Any):
        from azure.core.credentials import AccessToken

        token, exp = self._token(scopes, tenant_id)
        return AccessToken(token, exp)

    def get_token_info(self, *scopes: str, options: Optional[dict] = None):
        from azure.core.credentials import AccessTokenInfo

        token, exp = self._token(scopes, (options or {}).get("tenant_id"))
        return AccessTokenInfo(token, exp, token_type="Bearer", refresh_on=exp - 300)

    def close(self) -> None:
        return None

    def __enter__(self) -> EmulatorCredential:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class Restore:
    """Undoes ``prepare_process_for_emulator``; callable once, also a context manager."""

    def __init__(self, env: dict, storage_urls: Optional[dict], polling: Optional[tuple],
                 invoke_headers: Optional[dict] = None) -> None:
        self._env = env
        self._storage_urls = storage_urls
        self._polling = polling
        self._invoke_headers = invoke_headers
        self._done = False

    def __call__(self) -> None:
        if self._done:
            return
        self._done = True
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._storage_urls is not None and "azure.ai.ml.constants._common" in sys.modules:
            urls = sys.modules["azure.ai.ml.constants._common"].STORAGE_ACCOUNT_URLS
            urls.clear()
            urls.update(self._storage_urls)
        if self._polling is not None and "azure.ai.ml.operations._run_history_constants" in sys.modules:
            consts = sys.modules["azure.ai.ml.operations._run_history_constants"].RunHistoryConstants
            consts._WAIT_COMPLETION_POLLING_INTERVAL_MIN, consts._WAIT_COMPLETION_POLLING_INTERVAL_MAX = self._polling
        if self._invoke_headers is not None and "azure.ai.ml.constants._endpoint" in sys.modules:
            headers = sys.modules["azure.ai.ml.constants._endpoint"].EndpointInvokeFields.DEFAULT_HEADER
            headers.clear()
            headers.update(self._invoke_headers)

    def __enter__(self) -> Restore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self()


def prepare_process_for_emulator(base_url: str, ca_path: str, *, polling_interval: int = 0) -> Restore:
    """Configure this process so the azure-ai-ml SDK talks to the emulator at ``base_url``; return a ``Restore``.

    - ``REQUESTS_CA_BUNDLE`` = ``ca_path`` (overwritten);
    - ``STORAGE_ACCOUNT_URLS`` (mutated in place, so modules that imported the dict see it) ->
      ``<base_url>{}`` for blob, dfs and file, i.e. path-style ``<base>/<account>/<container>/<blob>``;
    - ``AZUREML_RUN_POLLING_INTERVAL_MIN/MAX`` = ``polling_interval`` before ``azure.ai.ml`` is imported, plus
      the ``RunHistoryConstants`` class attributes (read at call time) so it also works after the import.
      The emulator long-polls run-history ``details`` for up to 50 ms, so 0 does not spin;
    - on restore, ``EndpointInvokeFields.DEFAULT_HEADER`` as it was: azure-ai-ml 1.35.2's
      ``online_endpoints.invoke`` writes ``Authorization`` and ``azureml-model-deployment`` into that class-level
      dict, so one invoke's deployment header (and key) would route every later invoke of the process.

    ``azure.ai.ml`` is imported here (to patch the constants), after the environment is set.
    """
    base = _norm(base_url)
    env = {key: os.environ.get(key) for key in _ENV_KEYS}
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_path)
    os.environ["AZUREML_RUN_POLLING_INTERVAL_MIN"] = str(polling_interval)
    os.environ["AZUREML_RUN_POLLING_INTERVAL_MAX"] = str(polling_interval)

    from azure.ai.ml.constants import _common, _endpoint
    from azure.ai.ml.operations import _run_history_constants

    urls = _common.STORAGE_ACCOUNT_URLS
    saved_urls = dict(urls)
    for kind in list(urls):
        urls[kind] = base + "{}"
    consts = _run_history_constants.RunHistoryConstants
    saved_polling = (consts._WAIT_COMPLETION_POLLING_INTERVAL_MIN, consts._WAIT_COMPLETION_POLLING_INTERVAL_MAX)
    consts._WAIT_COMPLETION_POLLING_INTERVAL_MIN = polling_interval
    consts._WAIT_COMPLETION_POLLING_INTERVAL_MAX = polling_interval
    saved_headers = {k: v for k, v in _endpoint.EndpointInvokeFields.DEFAULT_HEADER.items()
                     if k not in ("Authorization", "azureml-model-deployment")}
    return Restore(env, saved_urls, saved_polling, saved_headers)
