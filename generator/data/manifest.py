"""``manifest.json`` of the prepared data: reading it, checking the files against it, and the data's identity.

No polars or pyarrow here: rendering and applying specs use this module without paying for them.

``data_identity(manifest) -> str``
    ``"sha256:<16 hex>"``, a digest of exactly what defines the prepared data, for the pipeline job's content hash:

    - per file (sorted by name): the file name, its ``sha256`` and its ``rows``. The sha256 pins every byte the job
      reads; the name is how the job refers to the file; rows are implied by the bytes but named by the spec.
    - the source's identity: ``{"dataset", "revision"}`` for the hub (the revision is the commit the files were
      read at, a global and permanent name); ``{"path": "sample"}`` for the bundled sample; ``{"local": true}`` for
      any other local copy. A local path only says where a copy was on one machine: the same data prepared from
      ``/home/a/uc`` and from ``/mnt/ci/uc`` must not rename the job, and its bytes are pinned by the sha256 anyway.

    Not counted, because they do not change what the job reads or only restate it: key order and formatting of the
    manifest, ``tool`` (amlgen's version: a new version that writes the same bytes is the same data), ``bytes``
    (implied by the sha256), ``source_rows``, ``selected``, ``malformed`` and its examples, ``sampling``,
    ``columns``, ``format``, ``split_names`` and ``warnings`` (how the files came about, all reflected in their
    bytes), and anything volatile a future manifest may add (timestamps, timings): only the fields above are read.

``check_prepared(output_dir, manifest, files=None, *, env=None)``
    The prepared files on disk match the manifest (present, regular, size, sha256; hashed in parallel, streamed),
    else a one-line DataError naming the first missing or stale file and the fix (``amlgen data prepare --env E``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..yamlutil import read_json

MANIFEST = "manifest.json"
IDENTITY_CHARS = 16
_SHA = re.compile(r"[0-9a-f]{64}")


def split_file(split: str) -> str:
    return f"{split}.jsonl"


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def read_manifest(output_dir: Path) -> dict[str, Any] | None:
    path = Path(output_dir) / MANIFEST
    if not os.path.lexists(path):
        return None
    manifest = read_json(path, str(path), error=DataError)  # the safe reader: regular, bounded, nested JSON refused
    if not isinstance(manifest, dict):
        raise DataError(f"cannot read {path}: not a manifest (a JSON object)")
    return manifest


def file_sha256(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


# --------------------------------------------------------------------------- identity
def _entries(manifest: Mapping[str, Any], where: str, keys: tuple[str, ...] = ("rows",)) -> dict[str, Mapping[str, Any]]:
    splits = manifest.get("splits")
    if not isinstance(splits, Mapping) or not splits:
        raise DataError(f"{where}: lists no prepared files (no splits)")
    out: dict[str, Mapping[str, Any]] = {}
    for split, entry in splits.items():
        if not isinstance(entry, Mapping):
            raise DataError(f"{where}: splits.{split} is not an object")
        name, sha = entry.get("file", split_file(split)), entry.get("sha256")
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise DataError(f"{where}: splits.{split}.file is not a file name: {name!r}")
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):
            raise DataError(f"{where}: splits.{split}.sha256 is not a sha256 hex digest: {sha!r}")
        for key in keys:
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataError(f"{where}: splits.{split}.{key} is not a count: {value!r}")
        out[split] = entry
    return out


def source_identity(source: Any) -> dict[str, Any]:
    """What of ``manifest["source"]`` counts for the identity (see the module docstring)."""
    if isinstance(source, Mapping) and "dataset" in source:
        return {"dataset": str(source["dataset"]), "revision": str(source.get("revision"))}
    if isinstance(source, Mapping) and source.get("path") == "sample":
        return {"path": "sample"}
    return {"local": True}


def data_identity(manifest: Mapping[str, Any]) -> str:
    """``"sha256:<16 hex>"`` over the prepared files (name, sha256, rows) and the source identity. Pure."""
    entries = _entries(manifest, MANIFEST)
    files = sorted([e.get("file", split_file(s)), e["sha256"], e["rows"]] for s, e in entries.items())
    doc = {"files": files, "identity": 1, "source": source_identity(manifest.get("source"))}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:IDENTITY_CHARS]}"


# --------------------------------------------------------------------------- files on disk
def _select(entries: dict[str, Mapping[str, Any]], files: Iterable[str] | None, where: str, fix: str) -> list[Mapping[str, Any]]:
    if files is None:
        return list(entries.values())
    by_name = {**{e.get("file", split_file(s)): e for s, e in entries.items()}, **entries}
    out = []
    for name in files:
        if name not in by_name:
            raise DataError(f"{name} is not in {where}; {fix}")
        out.append(by_name[name])
    return out


def check_prepared(output_dir: Path, manifest: Mapping[str, Any], files: Iterable[str] | None = None, *,
                   env: str | None = None) -> None:
    """Raise a DataError unless every file of ``manifest`` (or only ``files``: split or file names) is in
    ``output_dir`` with the manifest's size and sha256. Sizes are checked first (no reading), then the files are
    hashed, in parallel; the first problem in manifest order is reported."""
    output_dir = Path(output_dir)
    fix = f"run 'amlgen data prepare --env {env or '<env>'}'"
    where = str(output_dir / MANIFEST)
    selected = _select(_entries(manifest, where, ("bytes",)), files, where, fix)
    paths = [output_dir / e.get("file", "") for e in selected]
    for entry, path in zip(selected, paths):
        try:
            st = path.stat()
        except FileNotFoundError:
            raise DataError(f"{path} is missing (listed in {MANIFEST}); {fix}") from None
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path} is not a regular file; {fix}")
        if st.st_size != entry["bytes"]:
            raise DataError(f"{path} is stale: {st.st_size:,} bytes, {MANIFEST} says {entry['bytes']:,}; {fix}")
    # imported here: render --check reads manifests and never hashes files
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(len(paths), os.cpu_count() or 1)), thread_name_prefix="amlgen-hash") as pool:
        digests = list(pool.map(_sha256_or_error, paths))  # hashlib releases the GIL: files hash in parallel
    for entry, path, digest in zip(selected, paths, digests):
        if isinstance(digest, OSError):
            raise DataError(f"cannot read {path}: {digest.strerror or digest}")
        if digest != entry["sha256"]:
            raise DataError(f"{path} is stale: its content differs from {MANIFEST} (sha256); {fix}")


def _sha256_or_error(path: Path) -> str | OSError:
    try:
        return file_sha256(path)[1]
    except OSError as exc:
        return exc
