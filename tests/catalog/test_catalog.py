"""The shipped catalog: component interfaces derived from published specs, SKU facts, interface drift."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from support import REPO, append, run_cli

from generator.catalog import derive_interface, find_sku, interface_path, sku_catalog
from generator.config import load_environment
from generator.errors import EXIT_INVALID, EXIT_TOOL_FAILURE

REFERENCE = REPO.parent / "shared" / "reference" / "azureml-assets"
SPEC_082 = REFERENCE / "assets/training/finetune_acft_hf_nlp/components/pipeline_components/chat_completion/spec.yaml"


@pytest.mark.skipif(not SPEC_082.is_file(), reason="../shared/reference is not beside this checkout")
def test_committed_interface_is_derived_from_the_published_spec():
    derived = derive_interface(yaml.safe_load(SPEC_082.read_text()), "x")
    committed = yaml.safe_load(interface_path("chat_completion_pipeline", "0.0.82").read_text())
    assert derived["inputs"] == committed["inputs"] and derived["outputs"] == committed["outputs"]
    assert committed["inputs"]["learning_rate"]["type"] == "number"
    assert committed["inputs"]["adam_epsilon"]["default"] == 1e-8  # '1e-8' in the spec is YAML 1.1 text
    assert committed["outputs"]["mlflow_model_folder"] == "mlflow_model"


def test_interface_drift_between_pinned_versions(capsys):
    code, out, err = run_cli(capsys, "catalog", "diff", "chat_completion_pipeline", "0.0.51", "0.0.82")
    assert code == 0
    assert "+ input trust_remote_code: string" in out and "+ input finetune_config_path: uri_file" in out
    assert "~ input optim.enum: ('adamw_hf', 'adamw_torch', 'adafactor') -> ('adamw_torch', 'adafactor')" in out


def test_pinning_older_component_rejects_newer_inputs(project, capsys):
    append(project / "infra/environments/dev.yml", 'component:\n  version: 0.0.51\n')
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID and "infra/lock.yml does not pin azureml/chat_completion_pipeline 0.0.51" in err
    code, out, err = run_cli(capsys, "lock", "--target", "local", "-C", str(project))  # the emulator's registry
    assert code == 0, err
    assert "+ component azureml/chat_completion_pipeline (0.0.51): 0.0.51" in out
    append(project / "infra/environments/dev.yml", 'finetune:\n  trust_remote_code: "false"\n')
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID
    assert "finetune.trust_remote_code: 'trust_remote_code' is not an input of chat_completion_pipeline 0.0.51" in err


def test_enum_change_is_caught(project, capsys):
    append(project / "infra/environments/dev.yml", "finetune:\n  optim: adamw_hf\n")
    code, out, err = run_cli(capsys, "render", "--env", "dev", "-C", str(project))
    assert code == EXIT_INVALID and "finetune.optim: must be one of 'adamw_torch', 'adafactor', got 'adamw_hf'" in err


def test_notebook_rejected_sizes_and_ncv3_are_retired():
    for name in ("standard_nc6", "standard_nc12", "standard_nc24", "standard_nc24r",
                 "Standard_NC6s_v3", "Standard_NC12s_v3", "Standard_NC24s_v3", "Standard_NC24rs_v3"):
        assert find_sku(name) is not None and find_sku(name).retired, name
    assert find_sku("Standard_NC4as_T4_v3").gpus == 1 and not find_sku("Standard_NC4as_T4_v3").retired
    assert find_sku("Standard_NC96ads_A100_v4").gpus == 4


def test_committed_definitions_use_current_sizes_from_the_locked_allow_lists():
    """The committed sizes satisfy the registry's lists as published (locked), not lists typed by hand."""
    for name in ("dev", "prod"):
        env = load_environment(REPO, name)
        cfg, model = env.config, env.model
        sizes = [cfg.deployment.instance_type] + ([cfg.compute.size] if env.trains else [])
        for size in sizes:
            sku = sku_catalog()[size.lower()]
            assert sku.status == "current" and sku.gpus >= 1, size
        if env.trains:
            assert cfg.compute.size in model.allow_list("finetune")
        assert cfg.deployment.instance_type in model.allow_list("inference")
        assert not cfg.deployment.allow_list_exception and (not env.trains or not cfg.compute.allow_list_exception)


def test_broken_sdk_installation_is_a_tool_failure(tmp_path):
    """validate cannot run without azure-ai-ml: exit 3 (tool failure), not 1 (invalid specs)."""
    fake = tmp_path / "site" / "azure" / "ai" / "ml"
    fake.mkdir(parents=True)
    for pkg in (fake.parent.parent, fake.parent, fake):
        (pkg / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("raise ImportError('simulated broken azure-ai-ml installation')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-m", "generator.cli", "validate", "--all", "-C", str(REPO)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == EXIT_TOOL_FAILURE, proc.stderr
    assert proc.stderr.strip() == "error: cannot import azure-ai-ml: simulated broken azure-ai-ml installation"


def test_integer_inputs_are_32_bit():
    from generator.catalog import ComponentInput

    spec = ComponentInput("n", "integer")
    assert spec.check(2**31 - 1) is None and spec.check(-(2**31)) is None
    assert "from -2147483648 to 2147483647" in spec.check(2**31)
    assert "from -2147483648 to 2147483647" in spec.check(-(2**31) - 1)
