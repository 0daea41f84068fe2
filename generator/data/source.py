"""Where the rows come from: the Hugging Face hub, a local copy in the hub's parquet layout, or a ``datasets`` folder.

``resolve_source(data, source, splits)`` returns a ``ResolvedSource`` with, per split, the files in stored order
and their row counts (from parquet metadata or Arrow stream headers; no row data is read). The hub is reached
only through ``huggingface_hub.snapshot_download`` (so ``HF_HOME``/``HF_HUB_CACHE``, ``HF_TOKEN`` and
``HF_HUB_OFFLINE`` apply), fetching only ``data/<split>-*.parquet`` of the pinned or resolved revision.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError

SAMPLE = "sample"  # --source sample: the small synthetic copy bundled with amlgen
SAMPLE_DIR = Path(__file__).parent / "sample"


@dataclass
class SplitFiles:
    split: str
    kind: Literal["parquet", "arrow"]
    files: list[Path]
    rows_per_file: list[int]

    @property
    def num_rows(self) -> int:
        return sum(self.rows_per_file)


@dataclass
class ResolvedSource:
    description: dict[str, Any]  # what the manifest records: {"dataset", "revision"} or {"path"}
    splits: dict[str, SplitFiles] = field(default_factory=dict)
    available: list[str] = field(default_factory=list)

    def label(self) -> str:
        d = self.description
        return f"{d['dataset']}@{d['revision']}" if "dataset" in d else str(d["path"])


def _shard_key(path: Path) -> tuple[Any, ...]:
    # hub shards are <split>-00000-of-00003-<hash>.parquet: order by the shard number, then by name
    m = re.search(r"-(\d+)-of-(\d+)", path.name)
    return (int(m.group(1)) if m else -1, path.name)


def _parquet_splits(root: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in root.glob("*.parquet"):
        m = re.match(r"^(\w+?)-\d+-of-\d+", p.name) or re.match(r"^(\w+?)(?:-.*)?\.parquet$", p.name)
        if m:
            out.setdefault(m.group(1), []).append(p)
    return {k: sorted(v, key=_shard_key) for k, v in out.items()}


def _parquet_rows(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read parquet file {path}: {exc}") from None


def _arrow_rows(path: Path) -> int:
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_stream(source)
            return sum(batch.num_rows for batch in reader)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read Arrow file {path}: {exc}") from None


def _arrow_split_files(split_dir: Path) -> list[Path]:
    state = split_dir / "state.json"
    if state.is_file():
        files = [split_dir / f["filename"] for f in json.loads(state.read_text()).get("_data_files", [])]
        if files:
            return files
    return sorted(split_dir.glob("*.arrow"), key=_shard_key)


def _arrow_splits(root: Path) -> dict[str, list[Path]]:
    """``save_to_disk`` layout (``dataset_dict.json`` + ``<split>/``), one split folder, or cache-style files."""
    out: dict[str, list[Path]] = {}
    dd = root / "dataset_dict.json"
    names = json.loads(dd.read_text()).get("splits", []) if dd.is_file() else [p.name for p in root.iterdir() if p.is_dir()]
    for name in names:
        files = _arrow_split_files(root / name)
        if files:
            out[name] = files
    # datasets cache layout: <builder>-<split>.arrow or <builder>-<split>-00000-of-00003.arrow
    for p in root.glob("*.arrow"):
        m = re.match(r"^.*?-(\w+?)(?:-\d+-of-\d+)?\.arrow$", p.name)
        if m and m.group(1) not in names:
            out.setdefault(m.group(1), []).append(p)
    return {k: sorted(v, key=_shard_key) if k not in names else v for k, v in out.items()}


def _local(path: Path, given: str, splits: list[str]) -> ResolvedSource:
    if not path.exists():
        raise DataError(f"source {given!r} does not exist")
    if not path.is_dir():
        raise DataError(f"source {given!r} is not a directory (expected the hub layout PATH/data/<split>-*.parquet or a datasets folder)")
    found: dict[str, list[Path]] = {}
    kind: Literal["parquet", "arrow"] = "parquet"
    for root in (path / "data", path):
        if root.is_dir():
            found = _parquet_splits(root)
            if found:
                break
    if not found:
        found, kind = _arrow_splits(path), "arrow"
    if not found:
        raise DataError(f"no dataset files in {given!r}: expected {given}/data/<split>-*.parquet or a datasets save_to_disk folder")
    return _collect({"path": given}, found, kind, splits)


def _collect(desc: dict[str, Any], found: dict[str, list[Path]], kind: Literal["parquet", "arrow"], splits: list[str]) -> ResolvedSource:
    available = sorted(found)
    missing = [s for s in splits if s not in found]
    if missing:
        where = desc.get("path") or f"{desc['dataset']}@{desc['revision']}"
        raise DataError(f"split{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in {where} (available: {', '.join(available) or 'none'})")
    count = _parquet_rows if kind == "parquet" else _arrow_rows
    out = ResolvedSource(description=desc, available=available)
    for s in splits:
        files = found[s]
        out.splits[s] = SplitFiles(split=s, kind=kind, files=files, rows_per_file=[count(f) for f in files])
    return out


def _hub(dataset: str, revision: str | None, splits: list[str]) -> ResolvedSource:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError as exc:  # pragma: no cover - installed with datasets
        raise DataError(f"huggingface_hub is needed to download {dataset}: {exc}") from None
    patterns = [f"data/{s}-*.parquet" for s in splits]
    try:
        local = Path(snapshot_download(repo_id=dataset, repo_type="dataset", revision=revision, allow_patterns=patterns))
    except RevisionNotFoundError:
        raise DataError(f"revision {revision!r} not found in {dataset}") from None
    except RepositoryNotFoundError:
        raise DataError(f"dataset {dataset} not found on the hub (or it is private: set HF_TOKEN)") from None
    except LocalEntryNotFoundError as exc:
        raise DataError(f"cannot get {dataset} (offline and not in the Hugging Face cache?): {str(exc).splitlines()[0]}") from None
    except (HfHubHTTPError, OSError) as exc:
        raise DataError(f"cannot download {dataset}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    found = _parquet_splits(local / "data")
    return _collect({"dataset": dataset, "revision": local.name}, found, "parquet", splits)


def resolve_source(dataset: str, revision: str | None, source: str | Path | None, splits: list[str]) -> ResolvedSource:
    """Resolve the configured dataset (``source=None``), the bundled sample (``"sample"``) or a local folder."""
    if source is None:
        return _hub(dataset, revision, splits)
    given = str(source)
    if given == SAMPLE:
        res = _local(SAMPLE_DIR, given, splits)
        res.description = {"path": SAMPLE}
        return res
    return _local(Path(given).expanduser(), given, splits)
