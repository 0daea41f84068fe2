"""Environment definitions: ``infra/defaults.yml`` layered under ``infra/environments/<env>.yml``.

Loading is typed and strict (pydantic, ``extra="forbid"``, no type coercion): an unknown key, a wrong type, a
missing value or an invalid Azure name fails with ``file:line: key.path: what is wrong``. Mappings merge key
by key (the environment file wins); lists and scalars are replaced whole.

A new environment is one new file in ``infra/environments/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .environment import Environment, where  # noqa: F401  (re-exported)
from .errors import ConfigError
from .names import RULES as NAME_RULES
from .paths import DEFAULTS_FILE, ENVIRONMENTS_DIR, INFRA_DIR, find_project_root  # noqa: F401
from .settings import *  # noqa: F401,F403  (the section models, re-exported: Data, EnvConfig, ...)
from .settings import EnvConfig
from .yamlutil import KeyPath, Origins, load_with_origins


# --------------------------------------------------------------------------- project layout
def environment_names(root: Path) -> list[str]:
    env_dir = root / INFRA_DIR / ENVIRONMENTS_DIR
    names = sorted(p.stem for p in env_dir.glob("*.yml"))
    stray = sorted(p.name for p in env_dir.glob("*.yaml"))
    if stray:
        raise ConfigError(f"environment files must end in .yml: {', '.join(stray)}", where=f"{INFRA_DIR}/{ENVIRONMENTS_DIR}")
    for name in names:
        if NAME_RULES["environment"].problem(name):
            raise ConfigError(
                f"environment name '{name}' must be {NAME_RULES['environment'].wording}",
                where=f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{name}.yml",
            )
    return names


# Keys of which a section holds one: an environment that sets one of them replaces the other one of the defaults
# (asking for a model by label where the defaults pin a version).
EXCLUSIVE: dict[KeyPath, tuple[str, ...]] = {("foundation_model",): ("version", "label"), ("component",): ("version", "label")}


def _merge(base: Any, over: Any, base_origins: Origins, over_origins: Origins, path: KeyPath, out: Origins) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        group = EXCLUSIVE.get(path, ())
        if any(k in over for k in group):
            base = {k: v for k, v in base.items() if k not in group or k in over}
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _merge(base.get(key), value, base_origins, over_origins, path + (key,), out) if key in base else value
            if key not in base:
                _copy_origins(over_origins, path + (key,), out)
        for key in base:
            if key not in over:
                _copy_origins(base_origins, path + (key,), out)
        if path in over_origins:
            out[path] = over_origins[path]
        return merged
    _copy_origins(over_origins, path, out)
    return over


def _copy_origins(src: Origins, prefix: KeyPath, out: Origins) -> None:
    n = len(prefix)
    for key, value in src.items():
        if key[:n] == prefix:
            out[key] = value


def _load_one(root: Path, name: str, *, checked: bool = True) -> Environment:
    defaults_rel = f"{INFRA_DIR}/{DEFAULTS_FILE}"
    env_rel = f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{name}.yml"
    files: list[str] = []
    base: Any = {}
    base_origins: Origins = {}
    if os.path.lexists(root / defaults_rel):  # a FIFO, a device or a dangling link is refused, not skipped
        base, base_origins = load_with_origins(root / defaults_rel, display=defaults_rel, root=root)
        files.append(defaults_rel)
        if base is None:
            base = {}
        if not isinstance(base, dict):
            raise ConfigError("must be a mapping of sections", where=f"{defaults_rel}:1")
    over, over_origins = load_with_origins(root / env_rel, display=env_rel, root=root)
    files.append(env_rel)
    if over is None:
        over = {}
    if not isinstance(over, dict):
        raise ConfigError("must be a mapping of sections", where=f"{env_rel}:1")
    origins: Origins = {}
    merged = _merge(base, over, base_origins, over_origins, (), origins)
    try:
        config = _validated(merged)
    except ValidationError as exc:
        raise _config_error(exc, origins, env_rel, defaults_rel if defaults_rel in files else None) from None
    env = Environment(name=name, config=config, files=files, origins=origins, raw=merged)
    env.raw_own = dict(over)  # what the environment's own file sets (some checks name keys set there)
    if checked:
        from .checks import check_environment  # the offline rules (SKUs, allow-lists, component interface, names)

        check_environment(env, root)
    return env


def _validated(data: Any) -> EnvConfig:
    """``EnvConfig.model_validate``. The first call builds the models' validators (``defer_build``), and pydantic
    then searches every installed distribution's entry points for plugins (a thirtieth of a ``render --check``):
    amlgen's configuration models are built without them, as typer builds its parameters' validators."""
    if EnvConfig.__pydantic_complete__:
        return EnvConfig.model_validate(data)
    import os

    before = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
    try:
        return EnvConfig.model_validate(data)
    finally:
        if before is None:
            os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = before


def raw_environments(root: Path) -> list[Environment]:
    """Every environment, typed but without the offline rules that need the lock (for ``amlgen lock`` itself)."""
    return [_load_one(root, name, checked=False) for name in environment_names(root)]


def load_all(root: Path) -> list[Environment]:
    """Every environment, validated, plus the rules across environments (``checks.check_across``)."""
    envs = [_load_one(root, name) for name in environment_names(root)]
    from .checks import check_across

    check_across(envs)
    return envs


def load_environment(root: Path, name: str) -> Environment:
    """Load, merge and validate one environment. Raises ConfigError naming file, line and key.

    The other environments are loaded too: two environments that would manage the same Azure resource are
    refused here, naming both files, whichever of them a command names.
    """
    names = environment_names(root)
    if name not in names:
        known = f"known: {', '.join(names) or 'none'}"
        if not NAME_RULES["environment"].ok(name):
            raise ConfigError(f"unknown environment {name!r}: not an environment name (an environment is "
                              f"{NAME_RULES['environment'].wording}; {known})")
        raise ConfigError(f"unknown environment '{name}' ({known}); add infra/{ENVIRONMENTS_DIR}/{name}.yml")
    return next(env for env in load_all(root) if env.name == name)


_MEMBER_TAGS = {"str", "int", "float", "bool", "function-after"}  # pydantic's union-member steps in an error's loc
_PREFERRED = ("finite_number", "less_than_equal", "greater_than_equal", "less_than", "greater_than", "value_error")


def _plain_loc(err: Any) -> tuple:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in _MEMBER_TAGS)))


def _config_error(exc: ValidationError, origins: Origins, fallback: str, defaults: str | None = None) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = _plain_loc(errors[0])
    same = [e for e in errors if _plain_loc(e) == first]  # a union reports one error per member: take the telling one
    err = next((e for kind in _PREFERRED for e in same if e["type"] == kind), same[0])
    errors = [e for e in errors if _plain_loc(e) != first] + [err]
    loc = first
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        known = _known_fields(parent)
        import difflib

        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        msg = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(known)})" if known else "")
    elif kind == "missing":
        msg = "required value is missing"
        if len(loc) == 1 and defaults:  # a whole section: the shared ones live in the defaults file
            msg = f"required section is missing (set it here, where the shared sections live, or in {fallback})"
            fallback, origins = defaults, {(): (defaults, 1)}
    elif kind == "string_pattern_mismatch":
        msg = f"invalid value {value!r}: must match {err.get('ctx', {}).get('pattern', '')}"
    elif kind == "finite_number":
        msg = f"must be a finite number, got {value!r}"
    elif kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than") and isinstance(value, (int, float)):
        msg = f"{err['msg'][0].lower()}{err['msg'][1:]}, got {_short(value)}"
    elif kind in ("float_type", "int_type") and isinstance(value, str):
        hint = ""
        if re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip()):
            hint = " (YAML 1.1 reads 5e-6 as a string: write 5.0e-06)"
        elif re.fullmatch(r"[-+]?\d+(\.\d*)?", value.strip()):
            hint = " (remove the quotes)"
        msg = f"{err['msg'].lower()}, got the string {value!r}{hint}"
    elif kind == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
    else:
        shown = f", got {value!r}" if not isinstance(value, (dict, list)) else ""
        msg = f"{err['msg'][0].lower()}{err['msg'][1:]}{shown}"
    more = len({_plain_loc(e) for e in errors}) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(msg, where=where(origins, loc, fallback))


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    model: Any = EnvConfig
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _known_fields(path: KeyPath) -> list[str]:
    model = _model_at(path)
    return list(model.model_fields) if model else []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"
