"""Seed content of the emulated ``azureml`` system registry (served by ``registry``)."""

from __future__ import annotations

REGISTRY_NAME = "azureml"
REGISTRY_SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e1"
REGISTRY_RESOURCE_GROUP = "registry-builtin-prod-eastus-01"

FINETUNE_ALLOW_LIST = (
    "['Standard_NC24ads_A100_v4', 'Standard_NC48ads_A100_v4', 'Standard_NC96ads_A100_v4', "
    "'Standard_ND96asr_v4', 'Standard_ND96amsr_A100_v4']"
)
INFERENCE_ALLOW_LIST = (
    "['Standard_NC6s_v3', 'Standard_NC4as_T4_v3', 'Standard_NC24ads_A100_v4', 'Standard_NC12s_v3', "
    "'Standard_NC24s_v3', 'Standard_NC8as_T4_v3', 'Standard_NC16as_T4_v3', 'Standard_NC64as_T4_v3', "
    "'Standard_NC48ads_A100_v4', 'Standard_NC96ads_A100_v4', 'Standard_ND96asr_v4', 'Standard_ND96amsr_A100_v4']"
)

_PHI3_VERSIONS = ("13", "14", "15")

MLFLOW_FLAVORS = {
    "python_function": {"data": {"loader_module": "mlflow.transformers", "python_version": "3.9.19",
                                 "env": "conda.yaml", "data": "data"}},
    "transformers": {"data": {"framework": "pt", "instance_type": "TextGenerationPipeline",
                              "task": "text-generation", "transformers_version": "4.40.0"}},
}


def models() -> dict[str, dict[str, dict]]:
    """``{name: {version: properties}}`` of the seeded registry models."""
    out: dict[str, dict[str, dict]] = {"Phi-3-mini-4k-instruct": {}}
    for version in _PHI3_VERSIONS:
        out["Phi-3-mini-4k-instruct"][version] = {
            "description": "Phi-3 Mini-4K-Instruct is a 3.8B parameters, lightweight, state-of-the-art open model.",
            "tags": {
                "task": "chat-completion",
                "license": "mit",
                "author": "Microsoft",
                "finetune_compute_allow_list": FINETUNE_ALLOW_LIST,
                "inference_compute_allow_list": INFERENCE_ALLOW_LIST,
                "evaluation_compute_allow_list": "['Standard_NC24ads_A100_v4', 'Standard_NC48ads_A100_v4']",
                "finetuning_tasks": "chat-completion",
                "SharedComputeCapacityEnabled": "",
            },
            "properties": {"SHA": "c1358f8a35e6d2af81890deffbbfa575b978c62f", "languages": "en"},
            "modelType": "mlflow_model",
            "flavors": MLFLOW_FLAVORS,
        }
    return out


def _port(type_: str, description: str, *, optional: bool = False, default=None) -> dict:
    port: dict = {"type": type_, "description": description, "optional": optional}
    if default is not None:
        port["default"] = default
    return port


CHAT_COMPLETION_INPUTS = {
    "mlflow_model_path": _port("mlflow_model", "MLflow model asset path (registry model id).", optional=True),
    "pytorch_model_path": _port("custom_model", "Pytorch model asset path.", optional=True),
    "model_name": _port("string", "Model name as in the model registry.", optional=True),
    "train_file_path": _port("uri_file", "Training data (jsonl with a messages column)."),
    "validation_file_path": _port("uri_file", "Validation data.", optional=True),
    "test_file_path": _port("uri_file", "Test data.", optional=True),
    "compute_model_import": _port("string", "Compute for model import.", optional=True, default="serverless"),
    "compute_preprocess": _port("string", "Compute for preprocessing.", optional=True, default="serverless"),
    "compute_finetune": _port("string", "Compute for fine-tuning.", optional=True, default="serverless"),
    "compute_model_evaluation": _port("string", "Compute for evaluation.", optional=True, default="serverless"),
    "instance_type_model_import": _port("string", "Serverless SKU.", optional=True, default="Standard_d12_v2"),
    "instance_type_preprocess": _port("string", "Serverless SKU.", optional=True, default="Standard_d12_v2"),
    "instance_type_finetune": _port("string", "Serverless SKU.", optional=True, default="Standard_nc24rs_v3"),
    "instance_type_model_evaluation": _port("string", "Serverless SKU.", optional=True,
                                            default="Standard_nc24rs_v3"),
    "number_of_gpu_to_use_finetuning": _port("integer", "GPUs per node.", optional=True, default=1),
    "num_nodes_finetune": _port("integer", "Nodes.", optional=True, default=1),
    "num_train_epochs": _port("integer", "Epochs.", optional=True, default=1),
    "learning_rate": _port("number", "Learning rate.", optional=True, default=2e-5),
    "per_device_train_batch_size": _port("integer", "Batch size.", optional=True, default=1),
    "per_device_eval_batch_size": _port("integer", "Batch size.", optional=True, default=1),
    "gradient_accumulation_steps": _port("integer", "Accumulation steps.", optional=True, default=1),
    "max_seq_length": _port("integer", "Max sequence length.", optional=True, default=-1),
    "apply_lora": _port("string", "true/false.", optional=True, default="true"),
    "lora_r": _port("integer", "LoRA r.", optional=True, default=8),
    "lora_alpha": _port("integer", "LoRA alpha.", optional=True, default=128),
    "lora_dropout": _port("number", "LoRA dropout.", optional=True, default=0.0),
    "apply_deepspeed": _port("string", "true/false.", optional=True, default="false"),
    "deepspeed_stage": _port("string", "DeepSpeed ZeRO stage.", optional=True, default="2"),
    "precision": _port("string", "Precision.", optional=True, default="32"),
    "seed": _port("integer", "Random seed.", optional=True, default=42),
    "lr_scheduler_type": _port("string", "Scheduler.", optional=True, default="linear"),
    "warmup_steps": _port("integer", "Warmup steps.", optional=True, default=0),
    "weight_decay": _port("number", "Weight decay.", optional=True, default=0.0),
}
CHAT_COMPLETION_OUTPUTS = {
    "pytorch_model_folder": {"type": "uri_folder", "description": "Fine-tuned PyTorch model."},
    "mlflow_model_folder": {"type": "mlflow_model", "description": "Fine-tuned MLflow model."},
}


def components() -> dict[str, dict[str, dict]]:
    """``{name: {version: componentSpec}}`` of the seeded registry components."""
    out: dict[str, dict[str, dict]] = {"chat_completion_pipeline": {}}
    for version in ("0.0.80", "0.0.81", "0.0.82"):
        out["chat_completion_pipeline"][version] = {
            "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json",
            "name": "chat_completion_pipeline",
            "version": version,
            "type": "pipeline",
            "display_name": "Chat Completion Pipeline",
            "description": "Pipeline component for chat completion fine-tuning (emulated).",
            "is_deterministic": True,
            "inputs": CHAT_COMPLETION_INPUTS,
            "outputs": CHAT_COMPLETION_OUTPUTS,
            "jobs": {},
        }
    return out
