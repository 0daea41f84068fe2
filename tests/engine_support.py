"""Engine test support: the real azure-ai-ml SDK against the loopback emulator (no mocks, no patched SDK methods).

Helpers, and fixtures that a folder's conftest imports (``from engine_support import *``): one emulator per
session (reset before each test), a throw-away copy of the project per test with the bundled data sample prepared
and the dev specs rendered into it, and ``run(...)`` calling the amlgen CLI (``generator.cli.main``) with its
output captured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

os.environ.setdefault("AZUREML_RUN_POLLING_INTERVAL_MIN", "0")
os.environ.setdefault("AZUREML_RUN_POLLING_INTERVAL_MAX", "0")
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FAST_LATENCIES = {"compute": 0.05, "endpoint": 0.05, "deployment": 0.08, "model": 0.0, "data": 0.0,
                  "delete": 0.03, "cancel": 0.02}
FAST_JOB = 0.4


def _endpoint_name(env: str) -> str:
    from generator.config import load_environment

    return load_environment(REPO, env).endpoint_name


EP = _endpoint_name("dev")  # the derived (globally unique) endpoint name of the repository's dev environment


def _deployment_name() -> str:
    """The dev deployment's name in the engine's project: the bundled sample prepared, so the job's name (and the
    model version the deployment is named after) includes that data's identity."""
    import io
    import tempfile

    import yaml

    from generator.engine.apply import Reporter
    from generator.flows.up import prepare_project

    with tempfile.TemporaryDirectory(prefix="amlgen-dep-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "infra", root / "infra", ignore=shutil.ignore_patterns("params"))
        shutil.copytree(REPO / "templates", root / "templates")
        prepare_project(root, "dev", Reporter(io.StringIO(), tty=False))
        return yaml.safe_load((root / "specs/dev/deployment.yml").read_text())["name"]


DEP = _deployment_name()  # the dev deployment's name (v<model version>) in the engine's project


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


LEASES = "/amlgen/locks/"  # the workspace leases' blobs (generator.wslease), in the default datastore's container


def lease_client(ml, name: str = "dev"):
    """A BlobClient on the workspace lease ``name`` of ``ml``'s workspace, with the default datastore's credentials
    as azure-ai-ml's uploads (and amlgen) get them."""
    from azure.ai.ml._artifacts._artifact_utilities import get_datastore_info
    from azure.storage.blob import BlobClient

    info = get_datastore_info(ml.datastores, ml.datastores.get_default().name)
    return BlobClient(info["account_url"], info["container_name"], f"amlgen/locks/{name}.lease",
                      credential=info["credential"])


def subprocess_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", *args]


def apply_waiting_for_its_job(emu, project: Path, timeout: float = 60) -> subprocess.Popen:
    """``amlgen apply --env dev`` in a child process, returned once its job was submitted (it then waits for it)."""
    env = {k: v for k, v in os.environ.items() if k != "AZUREML_CURRENT_CLOUD"}
    proc = subprocess.Popen(subprocess_cmd("apply", "--env", "dev", "--target", "local", "-C", str(project)),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline and not [x for x in writes(emu, "PUT", "/jobs/") if x.status == 201]:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        time.sleep(0.05)
    return proc


def job_name(project: Path, env: str = "dev") -> str:
    import yaml

    return yaml.safe_load((project / f"specs/{env}/pipeline-job.yml").read_text())["name"]


def model_ref(project: Path, env: str = "dev") -> tuple[str, str]:
    import yaml

    data = yaml.safe_load((project / f"specs/{env}/model.yml").read_text())
    return data["name"], str(data["version"])


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def emulator_session():
    from generator.emulator import Emulator

    with Emulator(latencies=FAST_LATENCIES, job_duration=FAST_JOB) as emu:
        yield emu


@pytest.fixture
def emu(emulator_session):
    from generator.config import load_all
    from generator.flows.up import provision

    emulator_session.reset()
    provision(emulator_session, load_all(REPO))  # the repository's workspaces in their regions, the registry
    emulator_session.latencies.update(FAST_LATENCIES)
    emulator_session.job_duration = FAST_JOB
    emulator_session.lease_time_scale = 1.0
    yield emulator_session
    emulator_session.faults.clear()


@pytest.fixture(scope="session")
def template_project(tmp_path_factory):
    """infra/ and templates/ of the repo plus the bundled sample data and the dev specs rendered from them."""
    import io

    from generator.engine.apply import Reporter
    from generator.flows.up import prepare_project

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "infra", root / "infra", ignore=shutil.ignore_patterns("params"))
    shutil.copytree(REPO / "templates", root / "templates")
    prepare_project(root, "dev", Reporter(io.StringIO(), tty=False))
    return root


@pytest.fixture
def project(template_project, tmp_path, emu):
    """A fresh copy of the template project whose .amlgen/emulator.json points at the test emulator."""
    from generator.emulator.target import write_state as write_emulator_state

    root = tmp_path / "proj"
    shutil.copytree(template_project, root)
    write_emulator_state(root, emu.base_url, emu.ca_path)
    return root


@pytest.fixture
def run(project, capsys):
    """Run the amlgen CLI in-process: run("plan", "--env", "dev", ...) -> Result (target local, -C project)."""
    from generator.cli import main

    def call(*args: str, target: str = "local", root: Path | None = None) -> Result:
        capsys.readouterr()
        argv = [*args, "-C", str(root or project)]
        if target and args and args[0] not in ("up", "emulator"):
            argv += ["--target", target]
        code = main(argv)
        cap = capsys.readouterr()
        return Result(code, cap.out, cap.err)

    return call


@pytest.fixture
def ml(emu):
    """A plain MLClient on the dev workspace of the emulator (for assertions only)."""
    from azure.ai.ml import MLClient

    from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

    restore = prepare_process_for_emulator(emu.base_url, emu.ca_path)
    client = MLClient(EmulatorCredential(), "00000000-0000-0000-0000-000000000000", "rg-amlgen-dev", "mlw-amlgen-dev",
                      **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)
    yield client
    restore()
