"""Fixtures for the dataset step: small synthetic parquet data, a project folder, no network."""

from __future__ import annotations

import os
from pathlib import Path

# Never reach the hub from tests (datasets/huggingface_hub read these at import time).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
from dataset_helpers import SIZES, make_project

from generator.data.synthetic import generate


@pytest.fixture(autouse=True)
def _isolated_hf(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path_factory.getbasetemp() / "hf-cache"
    monkeypatch.setenv("HF_HOME", str(cache))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache / "datasets"))
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture(scope="session")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four splits in the hub layout, several shards and row groups, odd sizes."""
    out = tmp_path_factory.mktemp("src")
    generate(out, sizes=SIZES, shards={"train_sft": 3, "test_sft": 1, "train_gen": 2, "test_gen": 1},
             seed=7, row_group_size=64, profile="compact")
    return out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")
