"""The azureml registry's content: derived from the published specs, served as the service does to azure-ai-ml.

Facts checked here come from the committed ``generator/emulator/registry_azureml.json`` (derived from
Azure/azureml-assets, snapshot HEAD 4b41f8cc: Phi-3-mini-4k-instruct 14 at 81f80b9b and 15 at 72891e18, Phi-4 8,
Phi-3.5-mini-instruct 6) and the catalog interfaces of chat_completion_pipeline 0.0.51/0.0.82.
"""

from __future__ import annotations

import ast
import json
import textwrap

import pytest

from generator.emulator import registry_seed

TINY_SPEC = textwrap.dedent("""\
    $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
    name: tiny-model
    path: ./
    isArchived: true
    properties:
      SharedComputeCapacityEnabled: true
      inference-min-sku-spec: 6|1|112|64
    tags:
      textContextWindow: 4096
      maas-inference: true
      Featured: ""
      inference_compute_allow_list:
        [Standard_NC6s_v3, Standard_NC24ads_A100_v4]
      model_specific_defaults:
        apply_lora: "true"
        deepspeed_stage: 2
        learning_rate: 5e-6
    system_metadata:
      deprecation:
        inferenceRetirementDate: '2025-08-30T00:00:00.000000Z'
      SKU:
        finetuneMinSkuSpec: 24|1|220|64
    version: 3
""")


def test_derive_model_coerces_values_as_the_sdk_publishes_them():
    rec = registry_seed.derive_model(TINY_SPEC, source="models/tiny/spec.yaml", commit="abc", created="2024-01-01T00:00:00Z")
    assert (rec["name"], rec["version"], rec["isArchived"]) == ("tiny-model", "3", True)
    assert rec["source"] == {"path": "models/tiny/spec.yaml", "commit": "abc"}
    tags = rec["tags"]
    assert tags["textContextWindow"] == "4096" and tags["maas-inference"] == "True" and tags["Featured"] == ""
    assert tags["inference_compute_allow_list"] == "['Standard_NC6s_v3', 'Standard_NC24ads_A100_v4']"
    # PyYAML reads 5e-6 as a string: the notebook's ast.literal_eval gives '5e-6' back
    assert ast.literal_eval(tags["model_specific_defaults"]) == {"apply_lora": "true", "deepspeed_stage": 2,
                                                                 "learning_rate": "5e-6"}
    assert rec["properties"] == {"SharedComputeCapacityEnabled": "True", "inference-min-sku-spec": "6|1|112|64"}
    assert rec["system_metadata"]["deprecation"]["inferenceRetirementDate"] == "2025-08-30T00:00:00.000000Z"


def test_derived_tags_equal_what_azure_ai_ml_sends_for_the_spec(tmp_path):
    from azure.ai.ml import load_model

    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY_SPEC.replace("isArchived: true\n", ""))  # a key the SDK's model schema refuses
    sent = load_model(spec)._to_rest_object().properties
    rec = registry_seed.derive_model(TINY_SPEC, source="s", commit="c", created="2024-01-01T00:00:00Z")
    assert rec["tags"] == dict(sent.tags) and rec["properties"] == dict(sent.properties)


def test_derive_steps_reads_the_component_jobs():
    spec = textwrap.dedent("""\
        name: p
        version: 0.0.1
        jobs:
          validate:
            type: command
            component: azureml:v:0.0.1
            compute: '${{parent.inputs.compute_a}}'
          train:
            type: command
            component: azureml:t:0.0.2
            compute: '${{parent.inputs.compute_b}}'
            outputs:
              model: '${{parent.outputs.model}}'
    """)
    rec = registry_seed.derive_steps(spec, source="x", commit="y")
    assert [(s["name"], s["compute_input"], s["outputs"]) for s in rec["steps"]] == [
        ("validate", "compute_a", []), ("train", "compute_b", ["model"])]


def test_committed_data_has_provenance_and_the_published_versions():
    data = json.loads(registry_seed.DATA_FILE.read_text())
    assert {(m["name"], m["version"]) for m in data["models"]} == {
        ("Phi-3-mini-4k-instruct", "14"), ("Phi-3-mini-4k-instruct", "15"), ("Phi-4", "8"),
        ("Phi-3.5-mini-instruct", "6")}
    for rec in data["models"] + data["component_steps"]:
        assert rec["source"]["path"] and rec["source"]["commit"]
    steps = {c["version"]: [s["name"] for s in c["steps"]] for c in data["component_steps"]}
    assert steps["0.0.82"] == ["ft_nlp_common_validation", "chat_completion_model_import",
                               "chat_completion_datapreprocess", "chat_completion_finetune", "ft_nlp_model_converter"]
    assert steps["0.0.51"][-1] == "chat_completion_model_converter"


def test_v14_facts_through_the_sdk_entity(registry_client):
    m = registry_client.models.get("Phi-3-mini-4k-instruct", version="14")
    assert ast.literal_eval(m.tags["finetune_compute_allow_list"]) == [
        "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4", "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4"]
    assert len(ast.literal_eval(m.tags["inference_compute_allow_list"])) == 9
    defaults = ast.literal_eval(m.tags["model_specific_defaults"])
    assert defaults["learning_rate"] == "5e-6" and defaults["deepspeed_stage"] == 2 and "learning_rate_min" not in defaults
    assert m.properties["inference-min-sku-spec"] == "6|1|112|64"
    assert m.properties["finetune-min-sku-spec"] == "24|1|220|64"
    assert m.type == "mlflow_model" and m.creation_context.created_at.year == 2024
    assert m._system_metadata is None  # v14 predates the lifecycle metadata


def test_v15_and_other_models_through_the_sdk_entity(registry_client):
    v15 = registry_client.models.get("Phi-3-mini-4k-instruct", version="15")
    assert set(v15.tags) == {"_aml_system_vanity_registry", "model_specific_defaults"} and v15.properties == {}
    assert ast.literal_eval(v15.tags["model_specific_defaults"])["learning_rate_max"] == "5e-5"
    # azure-ai-ml 1.35.2 does not map properties.system_metadata of a GET to the entity
    assert v15._system_metadata is None
    phi4 = registry_client.models.get("Phi-4", version="8")
    assert ast.literal_eval(phi4.tags["model_specific_defaults"])["deepspeed_stage"] == 3
    phi35 = registry_client.models.get("Phi-3.5-mini-instruct", version="6")
    assert ast.literal_eval(phi35.tags["model_specific_defaults"])["max_seq_length"] == 16384


def test_latest_label_lists_and_archived_containers(registry_client):
    from azure.ai.ml.constants import ListViewType

    assert registry_client.models.get("Phi-3-mini-4k-instruct", label="latest").version == "15"
    assert {m.version for m in registry_client.models.list("Phi-3-mini-4k-instruct")} == {"14", "15"}
    # container lists honour listViewType (azure-ai-ml 1.35.2 sends str() of its enum on the registry path,
    # "ListViewType.ARCHIVED_ONLY"; the string value "ArchivedOnly" is the documented one)
    archived = {m.name for m in registry_client.models.list(list_view_type="ArchivedOnly")}
    assert {m.name for m in registry_client.models.list(list_view_type=ListViewType.ARCHIVED_ONLY)} == archived
    active = {m.name: m.latest_version for m in registry_client.models.list()}
    every = {m.name for m in registry_client.models.list(list_view_type="All")}
    assert archived == {"Phi-3-mini-4k-instruct", "Phi-3.5-mini-instruct"}
    assert active == {"Phi-4": "8"}
    assert every == archived | set(active)


def test_system_metadata_is_in_the_raw_registry_body(registry_client, emu):
    """What the SDK drops is in the REST body: read it with an authenticated GET of the registry data plane."""
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.rest import HttpRequest

    from generator.emulator.local import EmulatorCredential

    client = PipelineClient(emu.base_url, policies=[
        BearerTokenCredentialPolicy(EmulatorCredential(), emu.base_url + ".default")])
    disc = client.send_request(HttpRequest("GET", emu.base_url + "registrymanagement/v1.0/registries/azureml/discovery"))
    d = disc.json()
    url = (f"{d['primaryRegionResourceProviderUri']}mferp/managementfrontend/subscriptions/{d['subscriptionId']}/"
           f"resourceGroups/{d['resourceGroup']}/providers/Microsoft.MachineLearningServices/registries/azureml/"
           f"models/Phi-3-mini-4k-instruct/versions/15?api-version=2021-10-01-dataplanepreview")
    body = client.send_request(HttpRequest("GET", url)).json()
    assert body["name"] == "Phi-3-mini-4k-instruct" and body["type"] == "models"
    assert body["id"] == "azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/15"
    props = body["properties"]
    assert props["isArchived"] is True
    meta = props["system_metadata"]
    assert meta["deprecation"]["inferenceRetirementDate"] == "2025-08-30T00:00:00.000000Z"
    assert meta["supportedComputes"]["finetuneComputes"][0] == "Standard_NC24ads_A100_v4"
    assert meta["SKU"]["inferenceMinSkuSpec"] == "6|1|112|64"


@pytest.mark.parametrize("version", ["0.0.51", "0.0.82"])
def test_components_serve_the_catalog_interface(registry_client, version):
    from generator.catalog import load_interface

    comp = registry_client.components.get("chat_completion_pipeline", version=version)
    interface = load_interface("chat_completion_pipeline", version)
    assert set(comp.inputs) == set(interface.inputs) and set(comp.outputs) == set(interface.outputs)
    assert comp.inputs["learning_rate"].type == interface.inputs["learning_rate"].type
    assert comp.outputs["mlflow_model_folder"].type == "mlflow_model"
