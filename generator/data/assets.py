"""Data assets for spec rendering.

Contract (used by the spec renderer; keep stable):

``load_manifest(env, root) -> dict | None``
    The ``manifest.json`` that ``amlgen data prepare`` wrote for ``env`` (under
    ``<root>/<env.config.data.resolved_output_dir>/``), or None when there is none yet. Raises ``DataError`` when
    the file exists but is not valid JSON.

``data_assets(env, manifest) -> list[DataAsset]``
    Pure (no I/O). One ``DataAsset`` per configured role, in the order train, validation, test, skipping roles
    whose split is not configured (``data.validation_split`` is None by default):

    - ``name``: ``<data.assets.name_prefix>-<split with "_" replaced by "-">``, e.g. ``ultrachat-200k-train-sft``
    - ``version``: the first 16 hex characters of the split file's sha256 in the manifest, so the asset version
      changes exactly when the data does; None when ``manifest`` is None or lacks the split (not prepared yet)
    - ``path``: the jsonl file relative to the project root, POSIX separators, e.g.
      ``data/ultrachat-200k-head5pc/train_sft.jsonl``
    - ``description``: one deterministic line (dataset, revision or path, sampling, rows)
    - ``role``: ``train`` | ``validation`` | ``test``; ``split``: the split name; ``rows``: rows in the file or None
    - ``mode``: ``data.assets.mode`` (``asset``: reference ``azureml:<name>:<version>``; ``local``: upload ``path``
      with the job)

    ``DataAsset.uri`` gives ``azureml:<name>:<version>`` (asset mode) or the local path.

``data_identity(manifest) -> str`` and ``check_prepared(output_dir, manifest, files=None, *, env=None)``
    The data's identity for the pipeline job's content hash, and the check that the files on disk still match the
    manifest before they are used: see ``generator.data.manifest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .manifest import read_manifest, split_file

VERSION_CHARS = 16


@dataclass(frozen=True)
class DataAsset:
    role: str
    split: str
    name: str
    version: str | None
    path: str
    description: str
    rows: int | None
    mode: str

    @property
    def uri(self) -> str:
        if self.mode == "asset" and self.version:
            return f"azureml:{self.name}:{self.version}"
        return self.path


def _config(env: Any) -> Any:
    return getattr(env, "config", env)


def output_dir(env: Any, root: Path) -> Path:
    return Path(root) / _config(env).data.resolved_output_dir


def load_manifest(env: Any, root: Path) -> dict[str, Any] | None:
    return read_manifest(output_dir(env, root))


def asset_name(prefix: str, split: str) -> str:
    return f"{prefix}-{split.replace('_', '-')}"


def _describe(data: Any, split: str, manifest: dict[str, Any] | None, entry: dict[str, Any] | None) -> str:
    source = (manifest or {}).get("source") or {}
    if "dataset" in source:
        origin = f"{source['dataset']}@{str(source.get('revision'))[:12]}"
    elif "path" in source:
        origin = f"local copy {source['path']}"
    else:
        origin = data.dataset
    sampling = (manifest or {}).get("sampling") or {"mode": data.sampling, "percent": data.percent}
    how = f"{'first' if sampling['mode'] == 'head' else 'random'} {sampling['percent']:g}%"
    if sampling["mode"] == "random" and "seed" in sampling:
        how += f" (seed {sampling['seed']})"
    rows = f", {entry['rows']} rows" if entry else ""
    return f"{split} split of {origin}, {how}{rows}; prepared by amlgen"


def data_assets(env: Any, manifest: dict[str, Any] | None) -> list[DataAsset]:
    data = _config(env).data
    splits = (manifest or {}).get("splits") or {}
    out = []
    for role, split in (("train", data.train_split), ("validation", data.validation_split), ("test", data.test_split)):
        if split is None:
            continue
        entry = splits.get(split)
        sha = (entry or {}).get("sha256")
        out.append(
            DataAsset(
                role=role,
                split=split,
                name=asset_name(data.assets.name_prefix, split),
                version=sha[:VERSION_CHARS] if sha else None,
                path=f"{Path(data.resolved_output_dir).as_posix()}/{split_file(split)}",
                description=_describe(data, split, manifest, entry),
                rows=entry.get("rows") if entry else None,
                mode=data.assets.mode,
            )
        )
    return out
