"""Static security scan with checkov (frameworks bicep and arm): no failed check, and every skipped check is a
suppression written in the Bicep resource itself with a reason."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.config import load_all
from generator.iac import render_infra

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"


def run_checkov(checkov: str, directory: Path, framework: str, cwd: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [checkov, "-d", str(directory), "--framework", framework, "--output", "json", "--skip-download"],
        cwd=cwd, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
             "LOG_LEVEL": "WARNING"},
    )
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    out = proc.stdout.strip()
    if not out or out.startswith("{") and '"check_type"' not in out:
        return []  # nothing scannable (checkov prints an empty summary)
    data = json.loads(out)
    return data if isinstance(data, list) else [data]


def suppressions_in_bicep() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in BICEP_DIR.rglob("*.bicep"):
        for m in re.finditer(r"//\s*checkov:skip=([A-Z0-9_]+):(.+)", path.read_text()):
            found.setdefault(m.group(1), set()).add(str(path.relative_to(BICEP_DIR)))
    return found


@pytest.fixture(scope="module")
def bicep_report(checkov: str) -> dict[str, Any]:
    reports = run_checkov(checkov, BICEP_DIR, "bicep", REPO)
    assert len(reports) == 1 and reports[0]["check_type"] == "bicep", reports
    return reports[0]


def test_bicep_scan_has_no_failed_checks(bicep_report) -> None:
    summary = bicep_report["summary"]
    failed = bicep_report["results"]["failed_checks"]
    assert summary["parsing_errors"] == 0
    assert not failed, "\n".join(f"{c['check_id']} {c['file_path']} {c['resource']}: {c['check_name']}" for c in failed)
    assert summary["passed"] >= 10 and summary["resource_count"] >= 20  # the scan really looked at the templates


def test_bicep_scan_skips_only_documented_suppressions(bicep_report) -> None:
    documented = suppressions_in_bicep()
    for check in bicep_report["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.strip()) >= 20, f"{check['check_id']} skipped without a reason"
        assert check["check_id"] in documented, f"{check['check_id']} skipped but not suppressed in a Bicep file"
        file = check["file_path"].lstrip("/")
        assert file in documented[check["check_id"]], (check["check_id"], file)


def test_arm_scan_of_rendered_parameters(checkov: str, tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for env in load_all(REPO):
        files.update(render_infra(env))
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    reports = run_checkov(checkov, tmp_path / "infra" / "params", "arm", tmp_path)
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0
        assert not report["results"]["failed_checks"]
