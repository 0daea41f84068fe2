"""The dataset step: ultrachat_200k (or a local copy) -> ``<split>.jsonl`` + ``manifest.json``.

Public API (``generator.data``):

- ``prepare(data, root, *, source=None, force=False, reporter=None) -> PrepareResult``: write the splits
  (see ``generator.data.prepare`` for sampling, validation, atomicity and the manifest)
- ``preview(env, root, *, split=None, rows=5) -> str`` and ``stats(env, root, *, splits=None) -> dict``
- ``sample_request(env, root, out=None) -> Path``, ``build_sample_request(env, root) -> dict``,
  ``sample_request_path(env, root) -> Path``
- ``data_assets(env, manifest) -> list[DataAsset]`` (pure) and ``load_manifest(env, root) -> dict | None``:
  the contract for spec rendering is in ``generator.data.assets``
- ``head_count(percent, num_rows) -> int``: rows of datasets' ``split[0%:percent%]``

The CLI is ``generator.data.cli.app`` (mounted as ``amlgen data``).
"""

from .assets import DataAsset, asset_name, data_assets, load_manifest
from .explore import format_stats, preview, stats
from .prepare import MANIFEST, PrepareResult, SplitResult, head_count, prepare
from .request import build_sample_request, sample_request, sample_request_path
from .source import SAMPLE, SAMPLE_DIR

__all__ = [
    "MANIFEST", "SAMPLE", "SAMPLE_DIR", "DataAsset", "PrepareResult", "SplitResult", "asset_name",
    "build_sample_request", "data_assets", "format_stats", "head_count", "load_manifest", "prepare", "preview",
    "sample_request", "sample_request_path", "stats",
]
