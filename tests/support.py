from __future__ import annotations

import hashlib
from pathlib import Path

from generator.cli import main

REPO = Path(__file__).resolve().parents[1]


def _endpoint(env: str) -> str:
    from generator.config import load_environment

    return load_environment(REPO, env).endpoint_name


EP = _endpoint("dev")  # the dev environment's derived endpoint name (unique by construction)


def _deployment() -> str:
    import yaml

    return yaml.safe_load((REPO / "specs/dev/deployment.yml").read_text())["name"]


DEP = _deployment()  # the dev deployment's name: v<model version>


def tree_digest(path: Path) -> str:
    """A digest of every file under ``path`` (names and bytes), to prove nothing changed."""
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the real CLI entry point in-process; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
