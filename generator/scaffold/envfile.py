"""A new project's environment files, modelled on the repository's (``infra/environments/<model>.yml``).

The model's text is kept line for line, comments included; only values change, each in place:

- the workspace coordinates (``workspace.subscription_id``, ``resource_group``, ``name``, ``location``) become the
  user's answers, or, where the user gave none, a placeholder marked ``# TODO(amlgen init): ...`` on its line
  (the model's value, with the model environment's name replaced by the new one: ``rg-amlgen-dev`` ->
  ``rg-amlgen-staging``);
- any other string value equal to a model environment's name (``tags.environment: dev``) becomes the name of
  the new environment modelled on it; ``promotion.source`` (a deploying environment's source) becomes the
  project's training environment;
- a ``promoted:`` block (``amlgen promote``'s record of the model the repository's prod deploys) is dropped: a new
  project has promoted nothing yet.

In a project, two things in these files are the project's, not amlgen's (``init --diff`` never proposes to
change them, and the record's fingerprints leave them out): the lines of the user's answers (``answer_paths``)
and a ``promoted:`` block that ends the file, as ``amlgen promote`` appends it (``promoted_tail``).

Every answer is checked with the Azure naming rules of ``generator.names`` before anything is written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import yaml

from ..errors import ConfigError, ToolFailure
from ..names import RULES
from ..yamlutil import safe_load, scalar
from .table import PLACEHOLDER_MARK

# workspace key -> (naming rule, what the user must put there)
WORKSPACE_KEYS: dict[str, tuple[str, str]] = {
    "subscription_id": ("guid", "your Azure subscription id"),
    "resource_group": ("resource_group", "the workspace's resource group"),
    "name": ("workspace", "the Azure ML workspace's name"),
    "location": ("region", "the workspace's Azure region"),
}


@dataclass(frozen=True)
class Span:
    line: int  # 0-based
    start: int  # columns of the value on that line
    end: int
    value: object


def scalar_spans(text: str, shown: str) -> dict[tuple, Span]:
    """Every single-line scalar value (and one-line flow list of scalars) of a block mapping, by key path. The text is first read with amlgen's
    guarded loader (``yamlutil.safe_load``: malformed YAML, alias bombs and recursion are a one-line
    ``ConfigError`` at ``shown:line``), then composed for the positions."""
    safe_load(text, shown)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    out: dict[tuple, Span] = {}

    def walk(n: yaml.Node, path: tuple) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    walk(v, path + (k.value,))
        elif isinstance(n, yaml.SequenceNode) and n.flow_style and n.start_mark.line == n.end_mark.line and path \
                and all(isinstance(c, yaml.ScalarNode) for c in n.value):
            out[path] = Span(n.start_mark.line, n.start_mark.column, n.end_mark.column, [c.value for c in n.value])
        elif isinstance(n, yaml.ScalarNode) and n.start_mark.line == n.end_mark.line and path:
            try:
                value = yaml.safe_load(text[n.start_mark.index:n.end_mark.index])
            except yaml.YAMLError:
                value = n.value
            out[path] = Span(n.start_mark.line, n.start_mark.column, n.end_mark.column, value)

    if node is not None:
        walk(node, ())
    return out


def problem(key: str, value: str) -> str | None:
    """Why ``value`` cannot be the workspace's ``key`` (Azure's naming rule), or None."""
    rule = RULES[WORKSPACE_KEYS[key][0]]
    why = rule.problem(value)
    return why if why is None or rule.wording in why else f"{why}; must be {rule.wording}"


def rename_token(value: str, old: str, new: str) -> str:
    """``rg-amlgen-dev`` -> ``rg-amlgen-staging``: the old environment name as a whole hyphen/underscore token."""
    return re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, value)


def placeholder(key: str, model_value: str, model: str, env: str) -> str:
    """The marked placeholder of ``key`` for a new environment ``env`` modelled on ``model``."""
    if key in ("resource_group", "name"):
        value = rename_token(model_value, model, env)
        if problem(key, value) is None:
            return value
        return f"{'rg' if key == 'resource_group' else 'mlw'}-{env}"
    return model_value


def environment_text(model_text: str, shown: str, *, model: str, env: str, values: dict[str, str | None],
                     renames: dict[str, str], source: str | None = None) -> str:
    """The new environment file: ``values`` maps each workspace key to the answer (None = a marked placeholder);
    ``renames`` maps model environment names to new ones; ``source`` is the project's training environment, the
    one a deploying environment's ``promotion.source`` names."""
    model_text = drop_promoted(model_text, shown)
    spans = scalar_spans(model_text, shown)
    lines = model_text.splitlines(keepends=True)
    edits: dict[int, tuple[Span, str, str | None]] = {}  # line -> (span, new value text, new comment or None)
    for key, (_, what) in WORKSPACE_KEYS.items():
        span = spans.get(("workspace", key))
        if span is None or not isinstance(span.value, str):
            raise ToolFailure(f"{shown}: amlgen's scaffold model has no one-line workspace.{key} value")
        given = values.get(key)
        value = given if given is not None else placeholder(key, span.value, model, env)
        edits[span.line] = (span, scalar(value), None if given is not None else f"# {PLACEHOLDER_MARK}: {what}")
    source_span = spans.get(SOURCE_PATH)
    if source is not None and source_span is not None and isinstance(source_span.value, str):
        edits[source_span.line] = (source_span, scalar(source), None)
    for path, span in spans.items():
        if path[:1] != ("workspace",) and isinstance(span.value, str) and span.value in renames \
                and span.line not in edits:
            edits[span.line] = (span, scalar(renames[span.value]), None)
    for number, (span, text, comment) in edits.items():
        line = lines[number]
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        rest = body[span.end:]
        if comment is not None:
            rest = f"  {comment}"
        elif PLACEHOLDER_MARK in rest:
            rest = ""
        lines[number] = f"{body[:span.start]}{text}{rest}{newline}"
    return "".join(lines)


def current_values(text: str, shown: str) -> dict[str, str | None]:
    """A project's environment file read back as answers: its workspace values, None where the line still
    carries the placeholder mark (or the value is missing or not one line)."""
    spans = scalar_spans(text, shown)
    lines = text.splitlines()
    out: dict[str, str | None] = {}
    for key in WORKSPACE_KEYS:
        span = spans.get(("workspace", key))
        marked = span is None or PLACEHOLDER_MARK in lines[span.line][span.end:]
        out[key] = None if marked or not isinstance(span.value, str) else span.value  # type: ignore[union-attr]
    return out


REGIONS_PATH = ("promotion_registry", "locations")  # in infra/defaults.yml: where the environments' regions go
WORKSPACE_PATHS = tuple(("workspace", key) for key in WORKSPACE_KEYS)
SOURCE_PATH = ("promotion", "source")  # a deploying environment's training environment
PROMOTED = "promoted"  # the top-level block `amlgen promote` writes into a deploying environment's file
ENVIRONMENTS = "infra/environments/"
WORKFLOWS = ".github/workflows/"
INSTALL_PATH = ("env", "AMLGEN_INSTALL")  # in the GitOps workflows: what their `pip install` installs
AMLGEN_PIN = re.compile(r"amlgen==[A-Za-z0-9.+!_-]+")  # the value init writes there (the running amlgen's version)


def answer_paths(rel: str) -> tuple[tuple[str, ...], ...]:
    """The lines of a scaffold file whose values are the project's answers, not amlgen's."""
    if rel.startswith(ENVIRONMENTS):
        return WORKSPACE_PATHS
    if rel == "infra/defaults.yml":
        return (REGIONS_PATH,)
    if rel.startswith(WORKFLOWS):
        return (INSTALL_PATH,)
    return ()


def _promoted_lines(text: str, shown: str) -> tuple[int, int] | None:
    """The lines ``[start, end)`` of the top-level ``promoted:`` block with the blank lines before it; the blank
    lines and column-0 comments after it belong to what follows. None when there is no such block."""
    safe_load(text, shown)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return None
    keys = [k for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
    found = [i for i, k in enumerate(keys) if k.value == PROMOTED]
    if not found:
        return None
    lines = text.splitlines(keepends=True)
    start = keys[found[0]].start_mark.line
    end = keys[found[0] + 1].start_mark.line if found[0] + 1 < len(keys) else len(lines)
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    while start > 0 and not lines[start - 1].strip():
        start -= 1
    return start, end


def drop_promoted(text: str, shown: str) -> str:
    """``text`` without its ``promoted:`` block (a new project has promoted nothing)."""
    span = _promoted_lines(text, shown)
    if span is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[:span[0]] + lines[span[1]:])


def promoted_tail(text: str, shown: str) -> tuple[str, str]:
    """``(text before it, the block)`` when a ``promoted:`` block ends the file, as ``amlgen promote`` appends it
    (the project's record of what it deploys, not amlgen's scaffold); else ``(text, "")``. A block the team
    moved elsewhere is part of the file like any other edit."""
    span = _promoted_lines(text, shown) if PROMOTED in text else None
    lines = text.splitlines(keepends=True)
    if span is None or span[1] != len(lines):
        return text, ""
    return "".join(lines[:span[0]]), "".join(lines[span[0]:])


def defaults_text(model_text: str, shown: str, regions: list[str]) -> str:
    """``infra/defaults.yml`` with the promotion registry's locations set to the environments' regions (in order),
    so every workspace region is one of the registry's. A model without that one-line list is left as it is."""
    from ..yamlutil import flow

    span = scalar_spans(model_text, shown).get(REGIONS_PATH)
    if span is None or not isinstance(span.value, list):
        return model_text
    lines = model_text.splitlines(keepends=True)
    line = lines[span.line]
    lines[span.line] = line[:span.start] + flow(list(dict.fromkeys(regions))) + line[span.end:]
    return "".join(lines)


def _spans(text: str, shown: str) -> dict[tuple, Span]:
    """``scalar_spans``; for a file outside ``infra/`` (a workflow the team broke) that is no YAML, none: it is
    compared as text, and only ``infra/`` must parse."""
    try:
        return scalar_spans(text, shown)
    except ConfigError:
        if shown.startswith("infra/"):
            raise
        return {}


def fingerprint(text: str, shown: str, paths: tuple[tuple[str, ...], ...]) -> str:
    """sha256 of a scaffold file with the lines of its answers (``paths``) blanked and, in an environment file,
    without a final ``promoted:`` block: filling in the placeholders or promoting a model is not an edit of the
    scaffold."""
    if shown.startswith(ENVIRONMENTS):
        text = promoted_tail(text, shown)[0]
    spans = _spans(text, shown) if paths else {}
    lines = text.splitlines(keepends=True)
    for path in paths:
        span = spans.get(path)
        if span is not None:
            lines[span.line] = lines[span.line][:span.start] + "*\n"
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def carry_answer_lines(new_text: str, mine_text: str, shown: str, paths: tuple[tuple[str, ...], ...]) -> str:
    """``new_text`` with each answer line (``paths``) taken verbatim from the project's file ``mine_text``: the
    values, placeholders and comments there are the team's, never amlgen's to change. Two exceptions follow
    amlgen: a workflow's ``AMLGEN_INSTALL`` that is init's own ``amlgen==X`` pin (it names the amlgen whose
    files these are: ``--update`` moves it with them); and, in an environment file, the project's final
    ``promoted:`` block is carried over whole (``promoted_tail``)."""
    tail = promoted_tail(mine_text, shown)[1] if shown.startswith(ENVIRONMENTS) else ""
    if not paths and not tail:
        return new_text
    new_spans, mine_spans = _spans(new_text, shown), _spans(mine_text, shown)
    new_lines, mine_lines = new_text.splitlines(keepends=True), mine_text.splitlines(keepends=True)
    for path in paths:
        a, b = new_spans.get(path), mine_spans.get(path)
        if path == INSTALL_PATH and b is not None and isinstance(b.value, str) and AMLGEN_PIN.fullmatch(b.value):
            continue
        if a is not None and b is not None:
            ending = "\n" if new_lines[a.line].endswith("\n") else ""
            new_lines[a.line] = mine_lines[b.line].rstrip("\r\n") + ending
    text = "".join(new_lines)
    if tail:  # where `amlgen promote` would put it in amlgen's version: at the end
        text = drop_promoted(text, shown)
        text += ("" if not text or text.endswith("\n") else "\n") + tail
    return text
