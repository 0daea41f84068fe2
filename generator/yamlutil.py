"""YAML helpers: a loader that remembers where every key came from, and exact scalar formatting.

PyYAML's SafeLoader loses positions and silently accepts duplicate keys; configuration is reviewed by people,
so both matter: every error names ``file:line`` and a duplicated key is an error, not "last one wins".
"""

from __future__ import annotations

import copy
import json
import os
import re
import stat
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import AmlgenError, ConfigError
from .paths import inside

KeyPath = tuple[str | int, ...]
Origins = dict[KeyPath, tuple[str, int]]


def load_with_origins(path: Path, *, display: str | None = None, root: Path | None = None) -> tuple[Any, Origins]:
    """Parse one YAML document; return (data, origins) where origins maps key paths to (file, line). With ``root``,
    the file must resolve inside that folder (see ``read_bytes``)."""
    shown = display or str(path)
    text = read_text(path, shown, root=root)
    return loads_with_origins(text, shown)


MAX_NODES = 100_000  # YAML nodes after alias expansion: configs and specs have a few hundred


def _expanded_size(root: yaml.Node, shown: str) -> int:
    """Nodes the document has once aliases are expanded, computed in linear time (aliases share node objects).

    A few hundred bytes of nested aliases ("billion laughs") expand to billions of nodes: refused here, before
    anything walks or constructs the tree. Recursive aliases are refused too.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    shared = False  # a node reached twice: the document uses aliases
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
                list(node.value) if isinstance(node, yaml.SequenceNode) else []
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_NODES:
                what = (f"YAML aliases expand to more than {MAX_NODES:,} nodes; refusing to read it (an alias bomb?)"
                        if shared else f"more than {MAX_NODES:,} YAML nodes (keys and values); refusing to read it "
                        "(a configuration or spec has a few hundred)")
                raise ConfigError(what, where=f"{shown}:{node.start_mark.line + 1}")
            continue
        if key in sizes:
            shared = True
            continue
        if key in active:
            raise ConfigError("recursive YAML alias", where=f"{shown}:{node.start_mark.line + 1}")
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            active.add(key)
            stack.append((node, True))
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
            for child in children:
                if id(child) in sizes:
                    shared = True
                else:
                    stack.append((child, False))
        else:
            if isinstance(node.value, str) and _SURROGATE.search(node.value):
                raise ConfigError("a value contains a character that cannot be written as UTF-8 (a lone surrogate)",
                                  where=f"{shown}:{node.start_mark.line + 1}")
            sizes[key] = 1
    return sizes[id(root)]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _reader_error(exc: yaml.reader.ReaderError, text: str, shown: str) -> ConfigError:
    """A character YAML does not allow (a NUL, a control character): named with its line and column, not the
    reader's character offset."""
    before = text[: exc.position] if isinstance(exc.position, int) else ""
    line = before.count("\n") + 1
    column = len(before) - before.rfind("\n")
    char = exc.character if isinstance(exc.character, int) else ord(exc.character) if exc.character else 0
    return ConfigError(f"malformed YAML: a character YAML does not allow (#x{char:04x}) at column {column}",
                       where=f"{shown}:{line}")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with a date that does not exist (``2025-99-99``) a YAML error at its line instead of
    the ``ValueError`` the timestamp constructor raises."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a real date or time ({exc})",
                                                    node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _compose(text: str, shown: str) -> tuple[yaml.SafeLoader, yaml.Node | None]:
    loader = _Loader(text)
    node = loader.get_single_node()
    if node is not None:
        _expanded_size(node, shown)
    return loader, node


# A run reads the same files more than once (infra/defaults.yml and the lock for every environment, a component's
# interface for its digest and its inputs): a document is parsed once per text and each caller gets its own copy.
PARSED_CACHE = 64


def safe_load(text: str, shown: str) -> Any:
    """``yaml.safe_load`` with the same limits as the configuration loader (alias expansion, encodable text)."""
    return copy.deepcopy(_safe_load(text, shown))


@lru_cache(maxsize=PARSED_CACHE)
def _safe_load(text: str, shown: str) -> Any:
    loader = None
    try:
        loader, node = _compose(text, shown)
        return None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"malformed YAML: {exc.problem or exc.context or 'invalid YAML'}",
                          where=f"{shown}:{mark.line + 1}" if mark else shown) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, shown) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", where=shown) from None
    except RecursionError:
        raise ConfigError("YAML nested too deeply", where=shown) from None
    finally:
        if loader is not None:
            loader.dispose()


_LIBYAML = getattr(yaml, "CSafeLoader", None)  # present when PyYAML was built with libyaml


def load_shipped(text: str, shown: str) -> Any:
    """A YAML file amlgen itself ships (the SKU catalog, the component interfaces in ``generator/catalog/``): read
    with libyaml's parser where PyYAML has it, a tenth of the pure parser's time. The two parsers differ only on
    edge cases (tabs, odd indentation) that these files do not have: tests hold them equal on every shipped file.
    Never for a file a user writes: those keep ``safe_load``'s parser, checks and messages."""
    return copy.deepcopy(_load_shipped(text, shown))


@lru_cache(maxsize=PARSED_CACHE)
def _load_shipped(text: str, shown: str) -> Any:
    if _LIBYAML is None:
        return _safe_load(text, shown)
    try:
        return yaml.load(text, Loader=_LIBYAML)  # libyaml's SafeLoader
    except yaml.YAMLError:  # the pure parser names the problem as it does for any other file
        return _safe_load(text, shown)


MB = 1 << 20
MAX_FILE_BYTES = 8 * MB  # a configuration file, template, spec, lock, price table or manifest: a few KB each
MAX_REQUEST_BYTES = 64 * MB  # a scoring request (--request, the prepared sample request)
_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path: Path, shown: str, *, limit: int = MAX_FILE_BYTES, error: type[AmlgenError] = ConfigError,
               root: Path | None = None, what: str = "file") -> bytes:
    """The bytes of a regular file amlgen reads from the project or the command line, or a one-line ``error``.

    The one safe reader: opened without blocking (a FIFO would wait forever for a writer), anything that is not a
    regular file refused (FIFOs, devices such as /dev/zero, sockets, folders), and nothing larger than ``limit``
    read (a file that grows while it is read is cut off at ``limit`` and refused too), so memory stays bounded.
    With ``root`` (the project, for what amlgen reads from ``infra/`` and ``templates/``), a file whose links lead
    out of that folder is refused: an outside file would otherwise be rendered into specs unreviewed.
    """
    if root is not None and not inside(root, path):
        raise error("leads out of the project through a symbolic link; amlgen reads it only inside the project",
                    where=shown)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error("file not found", where=shown) from None
    except IsADirectoryError:
        raise error(f"is a directory, not a {what}", where=shown) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", where=shown) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise error(f"is a directory, not a {what}", where=shown)
            kind = next((name for test, name in _KINDS if test(mode)), "a special file")
            raise error(f"is {kind}, not a regular file; amlgen reads only regular files", where=shown)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise error(f"larger than {limit // MB} MB, the most amlgen reads from such a file", where=shown)
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", where=shown) from None
    finally:
        os.close(fd)


def read_text(path: Path, shown: str, *, limit: int = MAX_FILE_BYTES, error: type[AmlgenError] = ConfigError,
              root: Path | None = None, what: str = "file") -> str:
    """A UTF-8 text file (through ``read_bytes``), or a one-line ``error`` (missing, unreadable, not a regular file,
    too large, not UTF-8 -- with the line)."""
    data = read_bytes(path, shown, limit=limit, error=error, root=root, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise error(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}); save it as UTF-8",
                    where=f"{shown}:{line}") from None


def loads_json(text: str | bytes, shown: str, *, error: type[AmlgenError] = ConfigError) -> Any:
    """A JSON document, or a one-line ``error``: malformed, not UTF-8, or nested too deeply (Python's parser recurses:
    a file of 100,000 ``[`` raises RecursionError)."""
    try:
        return json.loads(text)
    except UnicodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else
                    f"not UTF-8 text ({exc})", where=shown) from None
    except json.JSONDecodeError as exc:
        raise error(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", where=shown) from None
    except ValueError as exc:
        raise error(f"not JSON: {str(exc).splitlines()[0]}", where=shown) from None
    except RecursionError:
        raise error("JSON nested too deeply", where=shown) from None


def read_json(path: Path, shown: str, *, limit: int = MAX_FILE_BYTES, error: type[AmlgenError] = ConfigError,
              what: str = "file") -> Any:
    """A JSON file read through the safe reader (``read_text``), parsed by ``loads_json``."""
    return loads_json(read_text(path, shown, limit=limit, error=error, what=what), shown, error=error)


def loads_with_origins(text: str, shown: str) -> tuple[Any, Origins]:
    data, origins = _loads_with_origins(text, shown)
    return copy.deepcopy(data), dict(origins)


@lru_cache(maxsize=PARSED_CACHE)
def _loads_with_origins(text: str, shown: str) -> tuple[Any, Origins]:
    loader = None
    try:
        loader, node = _compose(text, shown)
        if node is None:
            return {}, {}
        origins: Origins = {}
        _walk(node, (), shown, origins)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"malformed YAML: {problem}", where=f"{shown}{line}") from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, shown) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", where=shown) from None
    except RecursionError:
        raise ConfigError("YAML nested too deeply", where=shown) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, origins


def _walk(node: yaml.Node, path: KeyPath, shown: str, origins: Origins) -> None:
    origins.setdefault(path, (shown, node.start_mark.line + 1))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("mapping keys must be plain strings", where=f"{shown}:{key_node.start_mark.line + 1}")
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"duplicate key '{_dotted(path + (key,))}' (first at line {seen[key]})", where=f"{shown}:{line}"
                )
            seen[key] = line
            origins[path + (key,)] = (shown, line)
            _walk(value_node, path + (key,), shown, origins)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), shown, origins)


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def scalar(value: Any) -> str:
    """Format one value as a YAML flow scalar that reads back as the same Python value and type.

    Floats keep a decimal point and a signed exponent (``5.0e-06``) so YAML 1.1 resolvers read a float;
    strings that look like booleans or numbers (``"true"``, ``"2"``) are quoted so they stay strings.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        # keyed by type and, for floats, the exact bits: 0.0 and -0.0 (equal, same hash) are written differently
        return _scalar(type(value), value.hex() if isinstance(value, float) else value, value)
    raise TypeError(f"not a scalar: {value!r}")


@lru_cache(maxsize=4096)  # a render writes the same few dozen values many times; each costs a dump and a load
def _scalar(kind: type, key: Any, value: float | str) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True)
    text = text.removesuffix("\n").removesuffix("\n...").removesuffix("...").rstrip("\n")
    back = yaml.safe_load(text)
    if back != value or type(back) is not type(value):
        raise ValueError(f"cannot represent {value!r} as a YAML scalar")
    return text


def flow(value: Any) -> str:
    """A list or mapping as one-line YAML flow style (deterministic key order as given)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)
