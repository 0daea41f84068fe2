"""A synthetic stand-in for HuggingFaceH4/ultrachat_200k, in the hub's parquet layout.

Deterministic from a seed: the same ``(seed, split, profile)`` always gives the same rows in the same order,
whatever the sharding or row-group size, so tests can compare shardings of the same data. Rows look like the
real ones: ``prompt`` (the first user message), ``prompt_id`` (sha256 hex of the prompt) and ``messages``
(alternating user/assistant turns, ``{content, role}``), with non-ASCII text, quotes, backslashes, slashes and
newlines in the content.

Files are written as ``<out>/data/<split>-0000i-of-0000n-<hash>.parquet`` like the hub. ``malformed`` injects
broken rows at given indices (for tests of the validation).

Profiles: ``full`` (about 5-6 KB of text a row, the real dataset's size) and ``compact`` (short messages, for
the bundled sample and fast tests).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SPLIT_SIZES = {"train_sft": 207_865, "test_sft": 23_110, "train_gen": 256_032, "test_gen": 28_304}
HUB_SHARDS = {"train_sft": 3, "test_sft": 1, "train_gen": 3, "test_gen": 1}
SPLITS = tuple(SPLIT_SIZES)

MESSAGE_TYPE = pa.struct([("content", pa.string()), ("role", pa.string())])
SCHEMA = pa.schema([("prompt", pa.string()), ("prompt_id", pa.string()), ("messages", pa.list_(MESSAGE_TYPE))])

# Kinds of malformed rows that can be injected (the reason the validator should give is in brackets).
MALFORMED_KINDS = (
    "empty_messages",  # messages is []
    "null_messages",  # messages is null
    "bad_role",  # a message with role "robot"
    "null_role",  # a message without a role
    "null_content",  # a message without content
    "null_message",  # a null element in messages
    "null_prompt",  # prompt is null
    "null_prompt_id",  # prompt_id is null
)

_SYLLABLES = (
    "ka ri to mi na se lo ve da ru po chi an el or um is at en ex al co ma ne ti sa pre con ter ment tion "
    "ber gen dro lux mar pol qua sti vor zen"
).split()
_REAL_WORDS = (
    "the a of to and in is that for it as with on this be are by can you your how what which when data model "
    "use example first also may more would will should could about there their other some such these into "
    "however important because between during through process system information people time water energy "
    "city history music research health recipe travel garden language design code function value result"
).split()
_INTL_WORDS = (
    "café naïve Zürich São Paulo Ærøskøbing façade résumé jalapeño über crème brûlée smörgåsbord "
    "東京 北京 日本語 中文 한국어 привет мир Москва λόγος Ελλάδα שלום مرحبا हिन्दी "
    "😀 🚀 ✓ — – … « » ¿ ¡ € £ ¥ °C ½ ≈ ≠ → ∑ π"
).split()
_SPECIAL = ('"quoted"', "C:\\path\\to\\file", "a/b/c", "https://example.com/x?y=1&z=2", "<tag>", "it's", "\\n", "{json: 1}")

_PROFILES = {
    # (user sentences, assistant sentences, max turn pairs, pool size, words per sentence)
    "full": ((1, 6), (8, 24), 6, 60_000, (6, 22)),
    "compact": ((1, 1), (1, 2), 3, 120, (3, 8)),
}


def _sentence_pool(seed: int, size: int, words: tuple[int, int]) -> list[str]:
    rng = random.Random(f"pool:{seed}")
    vocab = list(_REAL_WORDS) * 4 + list(_INTL_WORDS)
    vocab += ["".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(3000)]
    pool = []
    for _ in range(size):
        ws = rng.choices(vocab, k=rng.randint(*words))
        if rng.random() < 0.05:
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(_SPECIAL))
        text = " ".join(ws)
        pool.append(text[:1].upper() + text[1:] + rng.choice(".....?!:"))
    return pool


def _message(rng: random.Random, pool: list[str], n: tuple[int, int]) -> str:
    k = rng.randint(*n)
    sentences = rng.choices(pool, k=k)
    if k > 4:  # paragraphs and lists, like real assistant answers
        out: list[str] = []
        for i, s in enumerate(sentences):
            if i and i % 4 == 0:
                out.append("\n\n" if rng.random() < 0.7 else f"\n{i // 4}. ")
            else:
                out.append(" " if i else "")
            out.append(s)
        return "".join(out)
    return " ".join(sentences)


def conversations(n: int, *, seed: int = 0, split: str = "train_sft", profile: str = "full") -> Iterator[dict[str, Any]]:
    """The first ``n`` rows of a synthetic split, in stored order (deterministic)."""
    user_n, asst_n, max_pairs, pool_size, words = _PROFILES[profile]
    pool = _sentence_pool(seed, pool_size, words)
    rng = random.Random(f"rows:{seed}:{split}:{profile}")
    for _ in range(n):
        pairs = min(max_pairs, 1 + int(rng.expovariate(0.5)))
        messages = []
        for _ in range(pairs):
            messages.append({"content": _message(rng, pool, user_n), "role": "user"})
            messages.append({"content": _message(rng, pool, asst_n), "role": "assistant"})
        if pairs > 1 and rng.random() < 0.1:  # some conversations end on a user turn, as in the *_gen splits
            messages.pop()
        prompt = messages[0]["content"]
        yield {"prompt": prompt, "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(), "messages": messages}


def corrupt(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """A copy of ``row`` broken in the given way (one of ``MALFORMED_KINDS``)."""
    row = {**row, "messages": None if row["messages"] is None else [dict(m) for m in row["messages"]]}
    msgs = row["messages"]
    if kind == "empty_messages":
        row["messages"] = []
    elif kind == "null_messages":
        row["messages"] = None
    elif kind == "bad_role":
        msgs[-1]["role"] = "robot"
    elif kind == "null_role":
        msgs[-1]["role"] = None
    elif kind == "null_content":
        msgs[0]["content"] = None
    elif kind == "null_message":
        msgs.append(None)
    elif kind == "null_prompt":
        row["prompt"] = None
    elif kind == "null_prompt_id":
        row["prompt_id"] = None
    else:
        raise ValueError(f"unknown malformed kind {kind!r} (known: {', '.join(MALFORMED_KINDS)})")
    return row


def shard_name(split: str, i: int, n: int, seed: int) -> str:
    tag = hashlib.sha256(f"{seed}:{split}:{i}:{n}".encode()).hexdigest()[:16]
    return f"{split}-{i:05d}-of-{n:05d}-{tag}.parquet"


def generate(
    out_dir: str | Path,
    *,
    sizes: Mapping[str, int] | None = None,
    shards: Mapping[str, int] | int | None = None,
    seed: int = 0,
    row_group_size: int = 1000,
    profile: str = "full",
    malformed: Mapping[str, Mapping[int, str]] | None = None,
    compression: str = "snappy",
) -> dict[str, list[Path]]:
    """Write a synthetic dataset in the hub layout under ``out_dir/data``; returns the files per split.

    ``sizes`` defaults to the real split sizes; ``shards`` to the hub's shard counts (one int = the same for
    every split). ``malformed`` maps a split to ``{row index: kind}``.
    """
    sizes = dict(SPLIT_SIZES if sizes is None else sizes)
    data_dir = Path(out_dir) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for split, n in sizes.items():
        n_shards = shards if isinstance(shards, int) else (shards or HUB_SHARDS).get(split, 1)
        n_shards = max(1, min(n_shards, n or 1))
        bad = (malformed or {}).get(split, {})
        rows = conversations(n, seed=seed, split=split, profile=profile)
        bounds = [n * i // n_shards for i in range(n_shards + 1)]
        index = 0
        written[split] = []
        for i in range(n_shards):
            path = data_dir / shard_name(split, i, n_shards, seed)
            with pq.ParquetWriter(path, SCHEMA, compression=compression) as writer:
                while index < bounds[i + 1]:
                    chunk = []
                    for _ in range(min(row_group_size, bounds[i + 1] - index)):
                        row = next(rows)
                        chunk.append(corrupt(row, bad[index]) if index in bad else row)
                        index += 1
                    writer.write_table(pa.Table.from_pylist(chunk, schema=SCHEMA), row_group_size=row_group_size)
                if bounds[i + 1] == bounds[i]:
                    writer.write_table(SCHEMA.empty_table())
            written[split].append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--rows", type=int, default=None, help="rows per split (default: the real split sizes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", choices=sorted(_PROFILES), default="full")
    parser.add_argument("--row-group-size", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--compression", default="snappy")
    args = parser.parse_args(argv)
    sizes = {s: args.rows for s in SPLITS} if args.rows is not None else None
    files = generate(
        args.out_dir, sizes=sizes, shards=args.shards, seed=args.seed, profile=args.profile,
        row_group_size=args.row_group_size, compression=args.compression,
    )
    for split, paths in files.items():
        print(split, *(p.name for p in paths))


if __name__ == "__main__":
    main()


SAMPLE_SETTINGS = dict(shards=1, seed=2024, row_group_size=200, profile="compact", compression="zstd")
SAMPLE_ROWS = 200


def write_sample(out_dir: str | Path | None = None) -> dict[str, list[Path]]:
    """(Re)generate the bundled sample (``generator/data/sample``)."""
    import shutil

    out = Path(out_dir) if out_dir else Path(__file__).parent / "sample"
    shutil.rmtree(out / "data", ignore_errors=True)
    return generate(out, sizes={s: SAMPLE_ROWS for s in SPLITS}, **SAMPLE_SETTINGS)  # type: ignore[arg-type]
