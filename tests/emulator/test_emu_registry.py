"""The emulated azureml system registry through MLClient(registry_name="azureml")."""

from __future__ import annotations

import ast

import pytest
from azure.core.exceptions import ResourceNotFoundError


def test_model_lookup_with_allow_lists(registry_client, emu):
    model = registry_client.models.get("Phi-3-mini-4k-instruct", version="14")
    assert model.version == "14" and model.type == "mlflow_model"
    finetune = ast.literal_eval(model.tags["finetune_compute_allow_list"])
    inference = ast.literal_eval(model.tags["inference_compute_allow_list"])
    assert "Standard_NC24ads_A100_v4" in finetune and "Standard_NC6s_v3" in inference
    assert any(r.path == "/registrymanagement/v1.0/registries/azureml/discovery" for r in emu.requests)
    assert any(r.path.startswith("/mferp/managementfrontend/") for r in emu.requests)
    versions = {m.version for m in registry_client.models.list(name="Phi-3-mini-4k-instruct")}
    assert versions == {"14", "15"}  # the published versions (registry_azureml.json)


def test_component_lookup(registry_client):
    comp = registry_client.components.get("chat_completion_pipeline", version="0.0.82")
    assert comp.name == "chat_completion_pipeline" and comp.version == "0.0.82"
    assert {"train_file_path", "mlflow_model_path", "compute_finetune"} <= set(comp.inputs)
    assert "mlflow_model_folder" in comp.outputs


def test_unknown_registry_assets_are_404(registry_client):
    with pytest.raises(ResourceNotFoundError):
        registry_client.models.get("Phi-3-mini-4k-instruct", version="999")
    with pytest.raises(ResourceNotFoundError):
        registry_client.components.get("chat_completion_pipeline", version="9.9.9")
