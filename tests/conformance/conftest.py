"""Fixtures of the conformance suite (see conformance_support.py for what it checks and how)."""

from __future__ import annotations

import pytest

from conformance_support import LATENCIES, Replayer
from generator.emulator import Emulator
from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator


@pytest.fixture(scope="session")
def conformance_emulator():
    with Emulator(latencies=LATENCIES, job_duration=0.5) as emu:
        yield emu


@pytest.fixture
def conf_emu(conformance_emulator):
    conformance_emulator.reset()
    conformance_emulator.latencies.update(LATENCIES)
    with prepare_process_for_emulator(conformance_emulator.base_url, conformance_emulator.ca_path):
        yield conformance_emulator
    conformance_emulator.faults.clear()


@pytest.fixture
def replayer(conf_emu):
    return lambda workspace, region, **kw: Replayer(conf_emu, workspace, region, **kw)


@pytest.fixture
def sdk(conf_emu):
    from azure.ai.ml import MLClient

    def make(workspace: str, region: str = "eastus", **kw):
        conf_emu.add_workspace(conf_emu.subscription_id, conf_emu.resource_group, workspace, region, **kw)
        return MLClient(EmulatorCredential(), conf_emu.subscription_id, conf_emu.resource_group, workspace,
                        **local_cloud_kwargs(conf_emu.base_url), retry_backoff_factor=0.01)

    return make
