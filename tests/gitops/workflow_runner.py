"""A small rehearsal runner for the GitHub workflows in .github/workflows/: it reads the workflow files and runs a
job's steps the way a runner would, so the tests exercise the workflows' own commands, never a copy of them.

* ``run:`` steps run with ``bash --noprofile --norc -eo pipefail`` (the workflows set ``shell: bash``), in the
  project folder, with the workflow, job and step ``env:`` (expressions evaluated), ``GITHUB_OUTPUT``,
  ``GITHUB_STEP_SUMMARY``, ``GITHUB_ENV`` and the usual ``GITHUB_*`` variables; ``amlgen`` and ``python`` on PATH
  are this interpreter's.
* ``uses:`` steps: ``actions/checkout`` and ``actions/setup-python`` do nothing (the project is already there);
  ``azure/login`` is replaced by ``AMLGEN_TARGET=local`` (the emulator) but its inputs must resolve to values.
  Any other action is an error, so a new one must be taught here deliberately.
* ``if:`` and ``${{ }}`` are evaluated by a small interpreter of GitHub's expression language (contexts github,
  env, vars, inputs, steps, needs; functions always, success, failure, cancelled, contains, startsWith,
  endsWith, format, fromJSON, toJSON); an unknown function or syntax fails the test.

Facts about GitHub Actions used here (docs.github.com/actions: "Workflow syntax", "Expressions", "Contexts",
"Workflow commands"): the default step condition is ``success()``; a missing property evaluates to null (empty
string in ``${{ }}``); ``&&``/``||`` return one of their operands; string comparison ignores case; outputs are
``name=value`` lines or ``name<<DELIMITER`` blocks in the file named by GITHUB_OUTPUT.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


# --------------------------------------------------------------------------- expressions
class Ctx(dict):
    """A context object: missing keys are null, as GitHub evaluates them."""


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, Ctx):
        return Ctx({k: _wrap(v) for k, v in value.items()})
    return value


TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>&&|\|\||==|!=|<=|>=|[!<>(),\[\]])"
                   r"|(?P<name>[A-Za-z_][\w-]*(?:\.[A-Za-z_*][\w-]*)*))")


def _compile(expr: str) -> str:
    out: list[str] = []
    pos = 0
    text = expr.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse expression at {text[pos:]!r}: {expr!r}")
        pos = m.end()
        if m["str"]:
            out.append(repr(m["str"][1:-1].replace("''", "'")))
        elif m["num"]:
            out.append(m["num"])
        elif m["op"]:
            out.append({"&&": " and ", "||": " or ", "!": " not "}.get(m["op"], f" {m['op']} "))
        else:
            name = m["name"]
            rest = text[pos:].lstrip()
            if rest.startswith("("):
                out.append(f"_fn_{name.lower()}")
            elif name in ("true", "false", "null"):
                out.append({"true": "True", "false": "False", "null": "None"}[name])
            else:
                out.append(f"_get({name!r})")
    return "".join(out)


@dataclass
class Evaluator:
    contexts: dict[str, Any]
    job_failed: bool = False

    def get(self, path: str) -> Any:
        parts = path.split(".")
        value: Any = self.contexts.get(parts[0])
        for part in parts[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def evaluate(self, expr: str) -> Any:
        code = _compile(expr)
        scope = {
            "_get": self.get,
            "_fn_always": lambda: True,
            "_fn_success": lambda: not self.job_failed,
            "_fn_failure": lambda: self.job_failed,
            "_fn_cancelled": lambda: False,
            "_fn_contains": lambda a, b: (str(b).lower() in str(a).lower()) if isinstance(a, str)
            else b in (a or []),
            "_fn_startswith": lambda a, b: str(a or "").lower().startswith(str(b or "").lower()),
            "_fn_endswith": lambda a, b: str(a or "").lower().endswith(str(b or "").lower()),
            "_fn_format": lambda f, *args: re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m[1])]), f),
            "_fn_fromjson": lambda s: _wrap(json.loads(s)),
            "_fn_tojson": lambda v: json.dumps(v),
        }
        try:
            return eval(code, {"__builtins__": {}}, scope)  # noqa: S307 - our own compiled subset
        except NameError as exc:
            raise ValueError(f"unsupported function in {expr!r}: {exc}") from None

    def condition(self, expr: Any) -> bool:
        if expr is None:
            return not self.job_failed
        if isinstance(expr, bool):
            return expr
        text = str(expr).strip()
        m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
        inner = m.group(1) if m else text
        if not re.search(r"\b(always|success|failure|cancelled)\s*\(", inner):
            inner = f"success() && ({inner})"
        return bool(self.evaluate(inner))

    def substitute(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = EXPR.fullmatch(value.strip())
            if whole and "${{" not in whole.group(1):  # one expression: its value keeps its type
                return self.evaluate(whole.group(1))
            return EXPR.sub(lambda m: _text(self.evaluate(m.group(1))), value)
        if isinstance(value, dict):
            return {k: self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# --------------------------------------------------------------------------- jobs
@dataclass
class StepRun:
    id: str | None
    name: str
    outcome: str  # success | failure | skipped
    code: int = 0
    out: str = ""
    err: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    command: str = ""


@dataclass
class JobRun:
    job: str
    result: str  # success | failure | skipped
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    signed_in: list[dict[str, str]] = field(default_factory=list)  # azure/login inputs, resolved

    def step(self, key: str) -> StepRun:
        for s in self.steps:
            if s.id == key or s.name == key:
                return s
        raise KeyError(f"no step {key!r} in job {self.job}: {[s.id or s.name for s in self.steps]}")

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} [{s.outcome}]\n{s.out}{s.err}" for s in self.steps)


def _tool_dir() -> Path:
    """``amlgen`` and ``python`` for the steps: this interpreter (the installed amlgen, from any venv layout)."""
    folder = Path(tempfile.mkdtemp(prefix="amlgen-rehearsal-bin-"))
    for name, args in (("amlgen", "-m generator.cli"), ("python", "")):
        path = folder / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" {args} "$@"\n', encoding="utf-8")
        path.chmod(0o755)
    return folder


def _read_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


def run_job(workflow: dict[str, Any], job_id: str, project: Path, *, github: dict[str, Any] | None = None,
            vars: dict[str, str] | None = None, inputs: dict[str, Any] | None = None,
            needs: dict[str, Any] | None = None, env: dict[str, str] | None = None,
            skip: tuple[str, ...] = ("install",), target: str = "local", timeout: float = 300) -> JobRun:
    """Run one job of ``workflow`` in ``project``; ``skip``: step ids or names not run (reported as skipped)."""
    job = workflow["jobs"][job_id]
    github = dict(github or {})
    github.setdefault("repository", "example/amlgen-project")
    github.setdefault("token", "rehearsal-token")
    github.setdefault("run_id", "4242")
    github.setdefault("server_url", "https://github.com")
    github.setdefault("sha", "0" * 40)
    contexts: dict[str, Any] = {"github": _wrap(github), "vars": Ctx(vars or {}), "inputs": Ctx(inputs or {}),
                                "needs": _wrap(needs or {}), "steps": Ctx(), "env": Ctx(), "matrix": Ctx(),
                                "secrets": Ctx({"GITHUB_TOKEN": github["token"]}), "runner": Ctx({"os": "Linux"})}
    ev = Evaluator(contexts)
    run = JobRun(job_id, "skipped")
    if "if" in job and not ev.condition(job["if"]):
        return run
    # the rehearsal replaces the Azure sign-in by the emulator: --target "$AMLGEN_TARGET" becomes local
    wf_env = {k: _text(ev.substitute(v)) for k, v in (workflow.get("env") or {}).items()}
    wf_env["AMLGEN_TARGET"] = target
    contexts["env"] = Ctx(wf_env)
    job_env = {**wf_env, **{k: _text(ev.substitute(v)) for k, v in (job.get("env") or {}).items()}}
    contexts["env"] = Ctx(job_env)
    work = Path(tempfile.mkdtemp(prefix=f"amlgen-rehearsal-{job_id}-"))
    summary, envfile = work / "summary.md", work / "env"
    summary.touch()
    envfile.touch()
    tools = _tool_dir()
    base_env = {
        "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": os.environ.get("HOME", str(work)),
        "LANG": "C.UTF-8", "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(project),
        "GITHUB_REPOSITORY": github["repository"], "GITHUB_RUN_ID": str(github["run_id"]),
        "GITHUB_SHA": github["sha"], "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ENV": str(envfile),
        "RUNNER_TEMP": str(work), "GITHUB_API_URL": (env or {}).get("GITHUB_API_URL", "https://api.github.com"),
    }
    for key in ("AZUREML_RUN_POLLING_INTERVAL_MIN", "AZUREML_RUN_POLLING_INTERVAL_MAX", "SSL_CERT_FILE"):
        if key in os.environ:
            base_env[key] = os.environ[key]
    failed = False
    for index, step in enumerate(job.get("steps") or []):
        sid = step.get("id")
        name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
        ev.job_failed = failed
        record = StepRun(sid, name, "skipped")
        run.steps.append(record)
        if sid in skip or name in skip or not ev.condition(step.get("if")):
            _record(contexts, sid, record)
            continue
        step_env = {**job_env, **_read_outputs(envfile),
                    **{k: _text(ev.substitute(v)) for k, v in (step.get("env") or {}).items()}}
        contexts["env"] = Ctx(step_env)
        if "uses" in step:
            record.outcome = _action(step, ev, run)
        else:
            record.command = step["run"]
            outputs = work / f"output-{index}"
            outputs.touch()
            script = work / f"step-{index}.sh"
            script.write_text(step["run"], encoding="utf-8")
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=project,
                                  env={**base_env, **step_env, "GITHUB_OUTPUT": str(outputs)}, capture_output=True,
                                  text=True, timeout=timeout, check=False)
            record.code, record.out, record.err = proc.returncode, proc.stdout, proc.stderr
            record.outputs = _read_outputs(outputs)
            record.outcome = "success" if proc.returncode == 0 else "failure"
        contexts["env"] = Ctx(job_env)
        _record(contexts, sid, record)
        if record.outcome == "failure" and not step.get("continue-on-error"):
            failed = True
    ev.job_failed = failed
    run.result = "failure" if failed else "success"
    run.summary = summary.read_text(encoding="utf-8")
    run.outputs = {k: _text(ev.substitute(v)) for k, v in (job.get("outputs") or {}).items()}
    return run


def _record(contexts: dict[str, Any], sid: str | None, record: StepRun) -> None:
    if sid:
        contexts["steps"][sid] = Ctx({"outputs": Ctx(record.outputs), "outcome": record.outcome,
                                      "conclusion": record.outcome})


def _action(step: dict[str, Any], ev: Evaluator, run: JobRun) -> str:
    action = step["uses"].split("@", 1)[0]
    inputs = {k: _text(ev.substitute(v)) for k, v in (step.get("with") or {}).items()}
    if action in ("actions/checkout", "actions/setup-python"):
        return "success"
    if action == "azure/login":
        missing = [k for k in ("client-id", "tenant-id", "subscription-id") if not inputs.get(k)]
        if missing:
            raise AssertionError(f"azure/login would fail: empty input(s) {missing}")
        run.signed_in.append(inputs)
        return "success"
    raise AssertionError(f"the rehearsal does not know the action {step['uses']!r}: teach tests/gitops/runner.py")
