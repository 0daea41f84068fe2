"""``prepare``: write ``<split>.jsonl`` (columns prompt, prompt_id, messages) and ``manifest.json``.

Sampling
  ``head``: the first ``int(round(percent * N / 100))`` rows of each split in stored order, exactly what the
  notebook's ``load_dataset(name, split=f"{split}[0%:{pc}%]")`` gives (datasets' "closest" percent rounding);
  only the row groups holding those rows are read.
  ``random``: the same count, chosen by the smallest ``blake2b(prompt_id, key=seed)`` (ties broken by the row's
  index in the split), written in stored order: reproducible across runs and across shardings of the data.
Malformed rows (see ``validate``) are looked for among the selected rows: with ``on_invalid: reject`` a split
that has any fails the whole step and nothing is replaced; with ``exclude`` they are dropped and counted.

Parquet sources are written by polars' streaming engine (``sink_ndjson``: raw UTF-8 JSON lines, stored order,
bounded memory) into a file object that hashes (sha256) inline, counting the rows on the way; the query keeps only the
valid rows (``schema.valid_row``), so validation costs no second pass. When rows were left out, pyarrow names them
and their reasons (``validate.parquet_problems``: column statistics plus the tiny ``role`` leaf), and both counts
must agree. ``datasets`` folders (Arrow streams) are read batch by
batch and checked with the same vectorised pyarrow code. Output goes to ``.tmp-*.<pid>`` files in the output
folder, moved into place (see ``_install``) only when every split succeeded (any exception, Ctrl-C included,
removes them; temp files of a killed process are removed by the next run). Ctrl-C while polars writes: see
``sink``; a failed write (a full disk, a read-only folder) is a one-line error naming the file it would replace.

Empty splits: see ``empty`` (the training and request splits must have rows; other splits warn).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .. import __version__
from ..errors import DataError
from ..paths import ensure_inside
from .empty import empty_split, required_rows
from .files import make_dirs, os_error, remove_dirs, temp_path, unlink_all
from .manifest import MANIFEST, check_prepared, dump_manifest, file_sha256, read_manifest, split_file
from .progress import Reporter
from .schema import COLUMNS, check_schema, valid_row
from .sink import detach_polars_sigint, interrupts_deferred, sink_ndjson
from .source import ResolvedSource, SplitFiles, resolve_source

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# numpy and pyarrow (0.2 s to import) are imported where they are needed, so that commands which do not read data
# (and ``amlgen --help``) do not pay for them.

__all__ = ["MANIFEST", "PrepareResult", "SplitResult", "dump_manifest", "file_sha256", "head_count", "prepare",
           "read_manifest", "split_file"]
MAX_EXAMPLES = 5  # malformed rows listed in the manifest (index and reason)


def head_count(percent: float, num_rows: int) -> int:
    """Rows of ``split[0%:percent%]`` in datasets (``_pct_to_abs_closest``: Python's round, half to even)."""
    return min(num_rows, max(0, int(round(percent * num_rows / 100.0))))


@dataclass
class SplitResult:
    split: str
    source_rows: int
    selected: int
    rows: int = 0
    malformed: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)
    bytes: int = 0
    sha256: str = ""
    seconds: float = 0.0

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file": split_file(self.split), "source_rows": self.source_rows, "selected": self.selected,
            "rows": self.rows, "malformed": self.malformed, "bytes": self.bytes, "sha256": self.sha256,
        }
        if self.examples:
            out["malformed_examples"] = [{"index": i, "reason": r} for i, r in self.examples]
        return out


@dataclass
class PrepareResult:
    output_dir: Path
    manifest: dict[str, Any]
    up_to_date: bool
    splits: list[SplitResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- manifest
def sampling_settings(data: Any) -> dict[str, Any]:
    pc = data.percent
    out: dict[str, Any] = {"mode": data.sampling, "percent": int(pc) if float(pc).is_integer() else pc, "on_invalid": data.on_invalid}
    if data.sampling == "random":
        out["seed"] = data.seed
    return out


def inputs_of(source: ResolvedSource, data: Any, splits: list[str]) -> dict[str, Any]:
    return {
        "columns": list(COLUMNS),
        "format": "jsonl",
        "sampling": sampling_settings(data),
        "source": source.description,
        "split_names": list(splits),
        "tool": {"name": "amlgen", "version": __version__},
    }


def up_to_date(output_dir: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The existing manifest when it was made from the same inputs and every file still matches it."""
    try:
        existing = read_manifest(output_dir)
        if not existing or {k: existing.get(k) for k in inputs} != inputs:
            return None
        if sorted(existing.get("splits") or {}) != sorted(inputs["split_names"]):
            return None
        check_prepared(output_dir, existing)
    except DataError:
        return None
    return existing


# --------------------------------------------------------------------------- selection
def random_keys(prompt_ids: list[str | None], seed: int) -> np.ndarray:
    import numpy as np

    key = hashlib.sha256(f"amlgen-random-sample:{seed}".encode()).digest()
    b2 = hashlib.blake2b
    return np.fromiter(
        (int.from_bytes(b2((p or "").encode(), key=key, digest_size=8).digest(), "big") for p in prompt_ids),
        dtype=np.uint64, count=len(prompt_ids),
    )


def random_selection(prompt_ids: list[str | None], k: int, seed: int) -> np.ndarray:
    """Sorted indices of the ``k`` rows with the smallest keyed hash of ``prompt_id`` (ties: lower index first)."""
    import numpy as np

    n = len(prompt_ids)
    if k >= n:
        return np.arange(n, dtype=np.int64)
    keys = random_keys(prompt_ids, seed)
    order = np.lexsort((np.arange(n), keys))
    return np.sort(order[:k]).astype(np.int64)


def _arrow_batches(sf: SplitFiles, columns: tuple[str, ...] = COLUMNS) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    for path in sf.files:
        with pa.memory_map(str(path)) as src:
            for batch in pa.ipc.open_stream(src):
                yield batch.select(list(columns))


def _prompt_ids(sf: SplitFiles) -> list[str | None]:
    if sf.kind == "parquet":
        return pl.scan_parquet(sf.files).select("prompt_id").collect(engine="streaming")["prompt_id"].to_list()
    out: list[str | None] = []
    for batch in _arrow_batches(sf, ("prompt_id",)):
        out.extend(batch.column(0).to_pylist())
    return out


def _schema(sf: SplitFiles) -> pl.Schema:
    if sf.kind == "parquet":
        try:
            return pl.scan_parquet(sf.files).collect_schema()
        except pl.exceptions.PolarsError as exc:
            raise DataError(f"{sf.split}: cannot read {sf.files[0].parent}: {exc}") from None
    import pyarrow as pa

    with pa.memory_map(str(sf.files[0])) as src:
        schema = pa.ipc.open_stream(src).schema
    return pl.from_arrow(schema.empty_table()).schema  # type: ignore[union-attr]


# --------------------------------------------------------------------------- writing
def _write_parquet_split(sf: SplitFiles, tmp: Path, target: Path, res: SplitResult, selection: np.ndarray | None, rep: Reporter) -> None:
    """Write the selected, valid rows in one polars pass; malformed rows are counted as the ones it left out.

    Only when some were left out does pyarrow look at the rows again (``validate.parquet_problems``), to name
    them and their reasons, and the two checks must agree on the count. A split with malformed rows then fails
    (reject: the caller drops its temp file) or is already written without them (exclude).
    """
    files = sf.files
    if selection is None:  # head: only the files that hold the first rows (polars slices within the last one)
        files, total = [], 0
        for path, n in zip(sf.files, sf.rows_per_file):
            if total >= res.selected and files:
                break
            files.append(path)
            total += n
    out, res.rows = sink_ndjson(_query(files, sf, res, selection), tmp, target, sf.split, rep)
    res.malformed = res.selected - res.rows
    res.bytes, res.sha256 = out.n, out.h.hexdigest()
    if res.malformed:
        from .validate import parquet_problems

        try:
            bad = parquet_problems(files, limit=res.selected if selection is None else None, keep=selection)
        except (OSError, _arrow_error()) as exc:
            raise DataError(f"{sf.split}: cannot read the source: {str(exc).splitlines()[0]}") from None
        if len(bad) != res.malformed:  # pragma: no cover - a bug, not an input problem
            raise RuntimeError(f"{sf.split}: polars left out {res.malformed} rows, pyarrow finds {len(bad)} malformed")
        res.examples = bad[:MAX_EXAMPLES]


def _arrow_error() -> type[Exception]:
    import pyarrow as pa

    return pa.ArrowException


def _query(files: list[Path], sf: SplitFiles, res: SplitResult, selection: np.ndarray | None) -> pl.LazyFrame:
    """The selected rows of ``files`` that are valid (``schema.valid_row``), in stored order."""
    lf = pl.scan_parquet(files).select(COLUMNS)
    if selection is None:
        lf = lf.head(res.selected)
    elif len(selection) < sf.num_rows:
        lf = lf.with_row_index("_i")
        index_type = lf.collect_schema()["_i"]
        lf = lf.filter(pl.col("_i").is_in(pl.Series(selection, dtype=index_type).implode())).select(COLUMNS)
    return lf.filter(valid_row())


def _write_arrow_split(sf: SplitFiles, tmp: Path, target: Path, res: SplitResult, selection: np.ndarray | None, rep: Reporter) -> None:
    from .validate import problems

    h = hashlib.sha256()
    start = 0
    limit = res.selected if selection is None else sf.num_rows
    try:
        fh = open(tmp, "xb")
    except OSError as exc:
        raise os_error("write", target, exc) from None
    with fh:
        for batch in _arrow_batches(sf):
            if start >= limit:
                break
            first = start
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            df = df.with_row_index("_i", offset=start)
            start += df.height
            if selection is None:
                df = df.head(max(0, res.selected - (start - df.height)))
            else:
                df = df.filter(pl.col("_i").is_in(pl.Series(selection, dtype=df.schema["_i"]).implode()))
            rep.advance(df.height)
            prob = problems(df.select(COLUMNS))
            df = df.with_columns(prob)
            bad = df.filter(pl.col("_problem").is_not_null())
            res.malformed += bad.height
            for i, r in bad.select("_i", "_problem").iter_rows():
                if len(res.examples) < MAX_EXAMPLES:
                    res.examples.append((int(i), str(r)))
            good = df.filter(pl.col("_problem").is_null()).select(COLUMNS)
            if good.height:
                try:
                    chunk = good.write_ndjson().encode()
                except UnicodeDecodeError:  # Arrow does not check UTF-8 when it reads a stream; polars lets it through
                    raise DataError(f"{sf.split}: {_not_utf8(batch, first)}") from None
                h.update(chunk)
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise os_error("write", target, exc) from None
                res.bytes += len(chunk)
    res.sha256 = h.hexdigest()
    res.rows = res.selected - res.malformed


def _not_utf8(batch: pa.RecordBatch, offset: int) -> str:
    """Which row and column of an Arrow batch holds text that is not valid UTF-8 (as precisely as Arrow says)."""
    import re

    import pyarrow as pa

    for name, column in zip(batch.schema.names, batch.columns):
        try:
            column.validate(full=True)
        except pa.ArrowInvalid as exc:
            m = re.search(r"string index (\d+)", str(exc))
            where = f"row {offset + int(m.group(1))}, " if m and name != "messages" else ""
            return f"{where}column {name}: text is not valid UTF-8"
    return "text is not valid UTF-8"


def _prepare_split(sf: SplitFiles, data: Any, out_dir: Path, rep: Reporter) -> tuple[SplitResult, Path]:
    k = head_count(data.percent, sf.num_rows)
    res = SplitResult(split=sf.split, source_rows=sf.num_rows, selected=k)
    selection = random_selection(_prompt_ids(sf), k, data.seed) if data.sampling == "random" else None
    target = out_dir / split_file(sf.split)
    tmp = temp_path(target)
    t0 = time.perf_counter()
    rep.start(sf.split, k)
    try:
        tmp.unlink(missing_ok=True)  # left by a killed process whose pid we now have; created anew, not truncated
        if sf.kind == "parquet":
            _write_parquet_split(sf, tmp, target, res, selection, rep)
        else:
            _write_arrow_split(sf, tmp, target, res, selection, rep)
    except BaseException:
        unlink_all([tmp])  # an interrupted or failed split leaves no temp file
        raise
    res.seconds = time.perf_counter() - t0
    return res, tmp


# --------------------------------------------------------------------------- prepare
def prepare(
    data: Any,
    root: Path,
    *,
    source: str | Path | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> PrepareResult:
    """Prepare every configured split of ``data`` (a ``generator.config.Data``, or an environment) under ``root``.

    ``source``: None = the hub dataset ``data.dataset`` at ``data.revision``; ``"sample"`` = the bundled sample;
    else a local folder. Returns the manifest; ``up_to_date`` when existing files already matched it.
    """
    rep = reporter or Reporter()
    data = getattr(getattr(data, "config", data), "data", data)  # a Data, an EnvConfig or an Environment
    root = Path(root)
    out_dir = ensure_inside(root, root / data.resolved_output_dir, what="data.output_dir")  # links followed
    splits = list(data.splits)
    detach_polars_sigint()  # Ctrl-C reaches Python only: see sink
    head = data.sampling == "head" and data.percent < 100  # 100 %: every row of every shard
    src = resolve_source(data.dataset, data.revision, source, splits, (lambda n: head_count(data.percent, n)) if head else None,
                         progress=rep.interactive)
    inputs = inputs_of(src, data, splits)
    if out_dir.is_dir():
        remove_stale_temps(out_dir)
    if not force:
        existing = up_to_date(out_dir, inputs)
        if existing is not None:
            counts = ", ".join(f"{s} {e['rows']:,} rows" for s, e in existing["splits"].items())
            rep.line(f"{_rel(out_dir, root)}: up to date ({counts}); nothing rewritten")
            warnings = [str(w) for w in existing.get("warnings") or []]
            for text in warnings:
                rep.warn(text)
            return PrepareResult(out_dir, existing, True, warnings=warnings)
    for split in splits:  # before anything is written: every split has the columns, the required ones have rows
        sf = src.splits[split]
        check_schema(_schema(sf), f"{src.label()} ({split})")
        required_rows(data, split, sf.num_rows, head_count(data.percent, sf.num_rows))
    created = make_dirs(out_dir)
    rep.line(f"source {src.label()}: {data.sampling} {sampling_settings(data)['percent']}% of {', '.join(splits)} -> {_rel(out_dir, root)}/")
    results: list[SplitResult] = []
    warnings: list[str] = []
    temps: list[tuple[Path, Path]] = []
    manifest_tmp = temp_path(out_dir / MANIFEST)
    try:
        with rep:
            for split in splits:
                res, tmp = _prepare_split(src.splits[split], data, out_dir, rep)
                temps.append((tmp, out_dir / split_file(split)))
                results.append(res)
                note = f", {res.malformed:,} malformed {'excluded' if data.on_invalid == 'exclude' else ''}".rstrip() if res.malformed else ""
                rep.finish(split, f"{res.rows:,} of {res.source_rows:,} rows{note}, {res.bytes / 1e6:,.1f} MB in {res.seconds:.1f}s")
                if res.malformed and data.on_invalid == "reject":
                    i, reason = res.examples[0]
                    raise DataError(
                        f"split {split}: {res.malformed:,} malformed row{'s' if res.malformed > 1 else ''} "
                        f"(first: row {i}: {reason}); nothing was written (set data.on_invalid: exclude to drop them)"
                    )
                if (warning := empty_split(data, res.split, res.source_rows, res.selected, res.rows, res.examples)) is not None:
                    warnings.append(warning)
        manifest = {**inputs, "splits": {r.split: r.entry() for r in results}}
        if warnings:
            manifest["warnings"] = warnings
        try:
            manifest_tmp.unlink(missing_ok=True)  # as for the splits' temp files
            with open(manifest_tmp, "xb") as fh:
                fh.write(dump_manifest(manifest))
        except OSError as exc:
            raise os_error("write", out_dir / MANIFEST, exc) from None
        with interrupts_deferred(replay=True):  # Ctrl-C during the renames takes effect after them, all files in place
            _install([(tmp, final) for tmp, final in temps] + [(manifest_tmp, out_dir / MANIFEST)])
    except BaseException:
        unlink_all([tmp for tmp, _ in temps] + [manifest_tmp])
        remove_dirs(created)
        raise
    for text in warnings:
        rep.warn(text)
    rep.line(f"wrote {_rel(out_dir / MANIFEST, root)}")
    return PrepareResult(out_dir, manifest, False, results, warnings)


def _install(moves: list[tuple[Path, Path]]) -> None:
    """Move finished temp files into place; the manifest is the last of ``moves``.

    The old manifest goes first, so an interrupted install never leaves a manifest next to files it does not
    describe (and ``up_to_date`` re-hashes every file anyway). Each old file is unlinked before its replacement
    is renamed in: ext4 (``auto_da_alloc``, on by default) forces block allocation and writeback of the new file
    when a rename replaces an existing one, and when a truncated file is closed, which cost 2.6 s for the 2.7 GB
    of the full dataset (temp files are therefore created with ``O_EXCL``, never truncated). A file is thus
    briefly absent, never half-written; after a power loss a file that did not reach the disk fails the
    manifest's sha256 and is rewritten by the next run. Ctrl-C is deferred around it (see ``prepare``).
    """
    *files, (manifest_tmp, manifest) = moves
    final = manifest
    try:
        manifest.unlink(missing_ok=True)
        for tmp, final in files + [(manifest_tmp, manifest)]:
            final.unlink(missing_ok=True)
            os.rename(tmp, final)
    except OSError as exc:
        raise os_error("replace", final, exc) from None


def remove_stale_temps(out_dir: Path) -> list[Path]:
    """Remove ``.tmp-*.<pid>`` files left by a process that was killed (SIGKILL, power loss) and is gone."""
    removed = []
    for p in out_dir.glob(".tmp-*"):
        pid = p.name.rsplit(".", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running: not ours to remove
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            p.unlink(missing_ok=True)
        except OSError:  # a read-only folder: it stays until a run that can write there
            continue
        removed.append(p)
    return removed


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
