"""Helpers for the dataset-step tests (kept out of conftest so tests can import them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from generator.config import load_environment

REPO = Path(__file__).resolve().parents[2]
SIZES = {"train_sft": 1003, "test_sft": 37, "train_gen": 250, "test_gen": 11}


def make_project(root: Path, data: dict | None = None, env: str = "dev", inference: dict | None = None) -> Path:
    """A project with the repo's infra/ and, optionally, a ``data:`` (and ``inference:``) section for ``env``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "infra" / "environments", root / "infra" / "environments", dirs_exist_ok=True)
    shutil.copy(REPO / "infra" / "defaults.yml", root / "infra" / "defaults.yml")
    shutil.copy(REPO / "infra" / "lock.yml", root / "infra" / "lock.yml")
    env_file = root / "infra" / "environments" / f"{env}.yml"
    if not env_file.exists():  # a copy of dev with its own cluster (two environments never share a resource)
        shutil.copy(root / "infra" / "environments" / "dev.yml", env_file)
        with open(env_file, "a", encoding="utf-8") as fh:
            fh.write(f"\ncompute:\n  name: gpu-{env[:12]}\n")
    text = env_file.read_text()
    if data:
        text += f"\ndata: {json.dumps(data)}\n"
    if inference:
        text += f"\ninference: {json.dumps(inference)}\n"
    env_file.write_text(text)
    return root


def env_of(root: Path, name: str = "dev"):
    return load_environment(root, name)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
