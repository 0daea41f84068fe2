"""Where the rows come from: the Hugging Face hub, a local copy in the hub's parquet layout, or a ``datasets`` folder.

``resolve_source(dataset, revision, source, splits, rows_needed)`` returns a ``ResolvedSource`` with, per split,
the files in stored order and their row counts (from parquet metadata or Arrow stream headers; no row data is read).

The hub is reached only through huggingface_hub (so ``HF_ENDPOINT``, ``HF_HOME``/``HF_HUB_CACHE``, ``HF_TOKEN`` and
``HF_HUB_OFFLINE`` apply): the revision is resolved to a commit once (``dataset_info``), and every file is then
fetched at that commit into the Hugging Face cache (``hf_hub_download``). For a head sample only the first shards
of a split that hold the rows are downloaded; the row counts of the others come from their parquet footers, read
with ranged requests (``HfFileSystem``), or from the cache. Offline, the cached snapshot of the revision is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from ..errors import DataError

SAMPLE = "sample"  # --source sample: the small synthetic copy bundled with amlgen
SAMPLE_DIR = Path(__file__).parent / "sample"
SHARD_RE = re.compile(r"-(\d+)-of-(\d+)")  # hub shard names: <split>-00000-of-00003-<hash>.parquet
DOWNLOAD_WORKERS = 8  # concurrent shard downloads from the hub (snapshot_download's default)


@dataclass
class SplitFiles:
    split: str
    kind: Literal["parquet", "arrow"]
    files: list[Path]
    rows_per_file: list[int]
    total_rows: int | None = None  # when ``files`` are only the first shards of the split (a head sample from the hub)

    @property
    def num_rows(self) -> int:
        return sum(self.rows_per_file) if self.total_rows is None else self.total_rows


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
    m = SHARD_RE.search(path.name)
    return (int(m.group(1)) if m else -1, path.name)


def _split_of(name: str) -> str | None:
    m = re.match(r"^(\w+?)-\d+-of-\d+", name) or re.match(r"^(\w+?)(?:-.*)?\.parquet$", name)
    return m.group(1) if m else None


def _parquet_splits(root: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    if not root.is_dir():
        return out
    for p in root.iterdir():  # not glob, which takes a folder it may not list for an empty one
        if p.name.endswith(".parquet") and (split := _split_of(p.name)):
            out.setdefault(split, []).append(p)
    return {k: sorted(v, key=_shard_key) for k, v in out.items()}


def _parquet_splits_by_name(names: list[str]) -> dict[str, list[str]]:
    """Repo file names ``data/<split>-*.parquet`` by split, in shard order."""
    out: dict[str, list[str]] = {}
    for name in names:
        folder, _, base = name.rpartition("/")
        if folder == "data" and base.endswith(".parquet") and (split := _split_of(base)):
            out.setdefault(split, []).append(name)
    return {k: sorted(v, key=lambda n: _shard_key(Path(n))) for k, v in out.items()}


def _parquet_rows(path: Path) -> int:
    """From the footer (polars: pyarrow is not imported on this path)."""
    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = str(exc).splitlines()[0].removesuffix(f": {path}")
        raise DataError(f"cannot read parquet file {path}: {reason}") from None


def _arrow_rows(path: Path) -> int:
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_stream(source)
            return sum(batch.num_rows for batch in reader)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read Arrow file {path}: {exc}") from None


def _json(path: Path) -> dict[str, Any]:
    """A ``datasets`` metadata file (dataset_dict.json, state.json): a JSON object, else a DataError."""
    from ..yamlutil import read_json

    try:  # the safe reader: a regular file of bounded size; malformed or deeply nested JSON a one-line error
        value = read_json(path, str(path), error=DataError)
    except DataError as exc:
        raise DataError(f"cannot read {path}: {exc.message}") from None
    if not isinstance(value, dict):
        raise DataError(f"cannot read {path}: not a JSON object")
    return value


def _arrow_split_files(split_dir: Path) -> list[Path]:
    state = split_dir / "state.json"
    if state.is_file():
        entries = _json(state).get("_data_files", [])
        if not isinstance(entries, list) or not all(isinstance(f, dict) and isinstance(f.get("filename"), str) for f in entries):
            raise DataError(f"cannot read {state}: _data_files is not a list of {{filename: ...}}")
        files = [split_dir / f["filename"] for f in entries]
        if files:
            return files
    if not split_dir.is_dir():
        return []
    return sorted((p for p in split_dir.iterdir() if p.name.endswith(".arrow")), key=_shard_key)


def _arrow_splits(root: Path) -> dict[str, list[Path]]:
    """``save_to_disk`` layout (``dataset_dict.json`` + ``<split>/``), one split folder, or cache-style files."""
    out: dict[str, list[Path]] = {}
    dd = root / "dataset_dict.json"
    names = _json(dd).get("splits", []) if dd.is_file() else [p.name for p in root.iterdir() if p.is_dir()]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"cannot read {dd}: splits is not a list of names")
    for name in names:
        files = _arrow_split_files(root / name)
        if files:
            out[name] = files
    # datasets cache layout: <builder>-<split>.arrow or <builder>-<split>-00000-of-00003.arrow
    for p in (p for p in root.iterdir() if p.name.endswith(".arrow")):
        m = re.match(r"^.*?-(\w+?)(?:-\d+-of-\d+)?\.arrow$", p.name)
        if m and m.group(1) not in names:
            out.setdefault(m.group(1), []).append(p)
    return {k: sorted(v, key=_shard_key) if k not in names else v for k, v in out.items()}


def _local(path: Path, given: str, splits: list[str]) -> ResolvedSource:
    """A local copy; any file-system error reading it (permission denied, an I/O error) is one DataError."""
    if not _utf8(given):
        raise DataError(f"source {given!r}: the path is not valid UTF-8 (rename the folder, or pass a symlink to it)")
    try:
        return _local_files(path, given, splits)
    except OSError as exc:
        raise DataError(f"cannot read source {given!r}: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")) from None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # a path with bytes that are not UTF-8 arrives with lone surrogates (surrogateescape)
    except UnicodeEncodeError:
        return False
    return True


def _local_files(path: Path, given: str, splits: list[str]) -> ResolvedSource:
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


def _check_splits(found: dict[str, Any], splits: list[str], where: str) -> None:
    missing = [s for s in splits if s not in found]
    if missing:
        raise DataError(f"split{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in {where} (available: {', '.join(sorted(found)) or 'none'})")


def _collect(desc: dict[str, Any], found: dict[str, list[Path]], kind: Literal["parquet", "arrow"], splits: list[str]) -> ResolvedSource:
    available = sorted(found)
    _check_splits(found, splits, desc.get("path") or f"{desc['dataset']}@{desc['revision']}")
    count = _parquet_rows if kind == "parquet" else _arrow_rows
    out = ResolvedSource(description=desc, available=available)
    for s in splits:
        files = found[s]
        for f in files:
            if not _utf8(str(f)):
                raise DataError(f"source file {str(f)!r}: the name is not valid UTF-8 (rename it)")
        out.splits[s] = SplitFiles(split=s, kind=kind, files=files, rows_per_file=[count(f) for f in files])
    return out


def _hub(
    dataset: str, revision: str | None, splits: list[str], rows_needed: Callable[[int], int] | None, progress: bool
) -> ResolvedSource:
    try:
        import huggingface_hub as hh
        from huggingface_hub import constants
    except ImportError as exc:  # pragma: no cover - installed with datasets
        raise DataError(f"huggingface_hub is needed to download {dataset}: {exc}") from None
    with _hub_errors(dataset, revision), _hub_progress(progress):
        if constants.is_offline_mode():
            return _hub_cached(hh, dataset, revision, splits)
        info = hh.HfApi().dataset_info(dataset, revision=revision)
        commit = info.sha or ""
        names = [s.rfilename for s in info.siblings or [] if s.rfilename.startswith("data/")]
        found = _parquet_splits_by_name(names)
        _check_splits(found, splits, f"{dataset}@{commit}")
        out = ResolvedSource(description={"dataset": dataset, "revision": commit}, available=sorted(found))
        if not re.fullmatch(r"[0-9a-f]{40}", revision or ""):
            # One download by the branch name, so huggingface_hub records the branch's commit in the cache
            # (refs/<branch>) and an offline run finds this snapshot; everything else is fetched by commit.
            got = Path(hh.hf_hub_download(dataset, found[splits[0]][0], repo_type="dataset", revision=revision))
            if commit not in got.parts:
                raise DataError(f"{dataset}: {revision or 'the default branch'} moved to another commit while downloading; run again")
        # Downloads run concurrently (8 at a time, like snapshot_download) while the footers are read.
        pool = ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="amlgen-hub")
        try:
            first = (lambda shards: shards) if rows_needed is None else (lambda shards: shards[:1])
            fetch = {name: pool.submit(_download, hh, dataset, name, commit) for split in splits for name in first(found[split])}
            rows = {} if rows_needed is None else _footer_rows(hh, dataset, commit, [n for s in splits for n in found[s][1:]])
            rows.update({name: _parquet_rows(future.result()) for name, future in fetch.items()})
            needed: dict[str, tuple[list[str], int]] = {}
            for split in splits:
                shards = found[split]
                counts = [rows[name] for name in shards]
                k, n = (sum(counts) if rows_needed is None else rows_needed(sum(counts))), 1
                while n < len(shards) and sum(counts[:n]) < k:
                    n += 1
                needed[split] = (shards[:n], sum(counts))
                for name in shards[:n]:
                    fetch.setdefault(name, pool.submit(_download, hh, dataset, name, commit))
            for split, (names, total) in needed.items():
                paths = [fetch[name].result() for name in names]
                out.splits[split] = SplitFiles(split, "parquet", paths, [rows[name] for name in names], total_rows=total)
        finally:  # on an error or Ctrl-C, downloads not yet started are dropped (running ones finish)
            pool.shutdown(wait=True, cancel_futures=True)
        return out


@contextmanager
def _hub_progress(show: bool) -> Iterator[None]:
    """huggingface_hub's download bars only on a terminal (not in CI logs, not with --quiet)."""
    from huggingface_hub import utils

    was_disabled = utils.are_progress_bars_disabled()
    if not show:
        utils.disable_progress_bars()
    try:
        yield
    finally:
        if not show and not was_disabled:
            utils.enable_progress_bars()


def _footer_rows(hh: Any, dataset: str, commit: str, names: list[str]) -> dict[str, int]:
    """Row counts of repo files from their parquet footers: the cached file, else a ranged read of its tail."""
    rows: dict[str, int] = {}
    fs: Any = None
    for name in names:
        cached = hh.try_to_load_from_cache(dataset, name, revision=commit, repo_type="dataset")
        if isinstance(cached, str):
            rows[name] = _parquet_rows(Path(cached))
            continue
        import pyarrow.parquet as pq

        fs = fs or hh.HfFileSystem()
        with fs.open(f"datasets/{dataset}@{commit}/{name}", "rb") as fh:
            rows[name] = pq.read_metadata(fh).num_rows
    return rows


def _download(hh: Any, dataset: str, name: str, commit: str) -> Path:
    return Path(hh.hf_hub_download(dataset, name, repo_type="dataset", revision=commit))


def _hub_cached(hh: Any, dataset: str, revision: str | None, splits: list[str]) -> ResolvedSource:
    """Offline (``HF_HUB_OFFLINE=1``): the revision's files in the Hugging Face cache, which must hold every shard of
    the splits (a head sample downloads only the first shards, and the split's row count needs them all)."""
    local = Path(hh.snapshot_download(repo_id=dataset, repo_type="dataset", revision=revision, local_files_only=True))
    found = _parquet_splits(local / "data")
    for split in splits:
        numbered = [m for p in found.get(split, []) if (m := SHARD_RE.search(p.name))]  # (shard i, of n)
        counts = {int(m.group(2)) for m in numbered}
        present = {int(m.group(1)) for m in numbered}
        missing = sorted(set(range(max(counts))) - present) if len(counts) == 1 else []
        if missing:
            raise DataError(
                f"offline: split {split} of {dataset}@{local.name} has {len(present)} of {max(counts)} shards in the "
                f"Hugging Face cache (missing shard {', '.join(str(i) for i in missing)}); go online once or use --source"
            )
    return _collect({"dataset": dataset, "revision": local.name}, found, "parquet", splits)


@contextmanager
def _hub_errors(dataset: str, revision: str | None) -> Iterator[None]:
    """huggingface_hub's and the network's errors as one-line DataErrors (a token never appears in them)."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except RevisionNotFoundError:
        raise DataError(f"revision {revision!r} not found in {dataset}") from None
    except GatedRepoError:
        raise DataError(f"dataset {dataset} is gated: accept its terms on the hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise DataError(f"dataset {dataset} not found on the hub (or it is private: set HF_TOKEN)") from None
    except LocalEntryNotFoundError as exc:
        raise DataError(f"cannot get {dataset} (offline and not in the Hugging Face cache?): {_first_line(exc)}") from None
    except HfHubHTTPError as exc:
        raise DataError(f"cannot download {dataset}: {_first_line(exc)}") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise DataError(f"cannot download {dataset}: {_first_line(exc)}") from None
    except Exception as exc:
        package = type(exc).__module__.split(".")[0]
        if package in {"httpx", "httpx2", "httpcore", "requests", "urllib3"}:  # connection refused, timeouts, TLS
            raise DataError(f"cannot reach the Hugging Face hub for {dataset}: {type(exc).__name__}: {_first_line(exc)}") from None
        if package == "pyarrow":  # a remote parquet footer that does not parse
            raise DataError(f"cannot read a parquet footer of {dataset}: {_first_line(exc)}") from None
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve_source(
    dataset: str, revision: str | None, source: str | Path | None, splits: list[str],
    rows_needed: Callable[[int], int] | None = None, *, progress: bool = False,
) -> ResolvedSource:
    """Resolve the configured dataset (``source=None``), the bundled sample (``"sample"``) or a local folder.

    ``rows_needed(N)``: how many leading rows of a split of N rows will be read (head sampling); from the hub,
    only the shards holding them are downloaded (the others' row counts come from their footers, read by range
    requests). None: every row (and every shard). ``progress``: show huggingface_hub's download bars.
    """
    if source is None:
        return _hub(dataset, revision, splits, rows_needed, progress)
    given = str(source)
    if given == SAMPLE:
        res = _local(SAMPLE_DIR, given, splits)
        res.description = {"path": SAMPLE}
        return res
    return _local(Path(given).expanduser(), given, splits)
