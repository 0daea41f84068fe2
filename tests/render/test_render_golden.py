"""Golden files: small fixture projects (tests/render/fixtures/) rendered with the repository's templates.

One case per generated file; the cases cover a dedicated cluster in local data mode and serverless compute with
data assets versioned from a manifest. Golden files change only with ``pytest tests/render --update-golden``,
and that diff is reviewed like any other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import REPO

from generator import api
from generator.config import load_environment
from generator.data import prepare

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def _render(case: str, tmp: Path) -> dict[str, str]:
    root = tmp / case
    shutil.copytree(FIXTURES / case, root)
    shutil.copytree(REPO / "templates", root / "templates")
    for env in api.select_envs(root, None):  # the bundled sample stands in for the dataset
        prepare(load_environment(root, env).config.data, root, source="sample")
    outcome = api.render_files(root, None, with_infra=False)
    return {f"{case}/{path.removeprefix('specs/')}": text for path, text in outcome.files.items()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("golden")
    out: dict[str, str] = {}
    for case in CASES:
        out.update(_render(case, tmp))
    return out


def _golden_files() -> list[str]:
    return sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.yml"))


def test_every_generated_file_has_a_golden_file(rendered, update_golden):
    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, text in rendered.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_text(text, encoding="utf-8")
    assert _golden_files() == sorted(rendered), "run `pytest tests/render --update-golden` and review the diff"


@pytest.mark.parametrize("rel", _golden_files())
def test_golden_file(rendered, rel):
    assert rel in rendered, f"{rel} is no longer generated"
    assert rendered[rel] == (GOLDEN / rel).read_text(encoding="utf-8"), \
        f"{rel} differs from its golden file (run `pytest tests/render --update-golden` and review)"


def test_cases_cover_asset_mode_and_serverless(rendered):
    files = set(rendered)
    assert "serverless-asset/beta/data-train.yml" in files and "serverless-asset/beta/data-validation.yml" in files
    assert "serverless-asset/beta/compute.yml" not in files and "cluster/alpha/compute.yml" in files
