"""Helpers of the engine tests (imported by name: module basenames are unique across tests/)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAST_LATENCIES = {"compute": 0.05, "endpoint": 0.05, "deployment": 0.08, "model": 0.0, "data": 0.0,
                  "delete": 0.03, "cancel": 0.02}
FAST_JOB = 0.4


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err



def writes(emu, method: str | None = None, fragment: str = "") -> list:
    from generator.emulator.core import is_write

    return [r for r in emu.requests if is_write(r.method, r.path) and (method is None or r.method == method)
            and fragment.lower() in r.path.lower()]


def subprocess_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", *args]


def job_name(project: Path, env: str = "dev") -> str:
    import yaml

    return yaml.safe_load((project / f"specs/{env}/pipeline-job.yml").read_text())["name"]


def model_ref(project: Path, env: str = "dev") -> tuple[str, str]:
    import yaml

    data = yaml.safe_load((project / f"specs/{env}/model.yml").read_text())
    return data["name"], str(data["version"])
