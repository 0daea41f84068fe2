"""What the emulated ``azureml`` system registry serves, derived from the registry's published specs.

The content lives in ``registry_azureml.json`` (package data, committed): each model version is *derived* from
a published model ``spec.yaml`` of Azure/azureml-assets (the file records the source path and commit of each),
and each chat_completion_pipeline version's child steps from the published pipeline component spec. The
component interfaces (inputs/outputs) themselves are the ones amlgen already ships in
``generator/catalog/components/``.

How a spec becomes what the service answers (``derive_model``):

- ``tags`` and ``properties``: every value becomes ``str(value)`` of the value PyYAML reads, which is what
  azure-ai-ml's ``Model._to_rest_object`` sends when a model is published from a spec (lists and mappings become
  Python literals such as ``"['Standard_NC6s_v3', ...]"``, booleans ``"True"``, and ``5e-6`` stays the string
  ``'5e-6'`` inside ``model_specific_defaults``) -- the shape the notebooks read with ``ast.literal_eval``;
- ``isArchived``: the spec's ``isArchived`` (absent = false);
- ``system_metadata``: the spec's ``system_metadata`` mapping as JSON, under ``properties.system_metadata`` (the
  key azure-ai-ml uses when it writes a registry model with system metadata);
- the model type and flavors are not in the specs: every model is an ``mlflow_model`` with the transformers
  flavors below (what the notebook's ``mlflow_model_path`` input expects).

``regenerate(reference_dir, out)`` rewrites the JSON from a reference snapshot (run by hand; tests never read the
reference).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REGISTRY_NAME = "azureml"
REGISTRY_SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2e1"
REGISTRY_RESOURCE_GROUP = "registry-builtin-prod-eastus-01"
DATA_FILE = Path(__file__).with_name("registry_azureml.json")
CATALOG_DIR = Path(__file__).resolve().parents[1] / "catalog" / "components"

MLFLOW_FLAVORS = {
    "python_function": {"data": {"loader_module": "mlflow.transformers", "python_version": "3.9.19",
                                 "env": "conda.yaml", "data": "data"}},
    "transformers": {"data": {"framework": "pt", "instance_type": "TextGenerationPipeline",
                              "task": "text-generation", "transformers_version": "4.40.0"}},
}
_PARENT_INPUT = re.compile(r"^\$\{\{\s*parent\.inputs\.(\w+)\s*\}\}$")


# ------------------------------------------------------------------------------------------------ derivation
def service_value(value: Any) -> str:
    """A tag/property value as the service keeps it: ``str()`` of what PyYAML read (see the module doc)."""
    return str(value)


def derive_model(spec_text: str, *, source: str, commit: str, created: str) -> dict:
    """One registry model version from a published model ``spec.yaml`` (its text), with its provenance."""
    spec = yaml.safe_load(spec_text)
    if not isinstance(spec, dict) or not spec.get("name") or spec.get("version") is None:
        raise ValueError(f"{source}: a model spec needs name and version")
    return {
        "name": str(spec["name"]),
        "version": str(spec["version"]),
        "created": created,
        "source": {"path": source, "commit": commit},
        "description": spec.get("description"),
        "isArchived": bool(spec.get("isArchived", False)),
        "tags": {str(k): service_value(v) for k, v in (spec.get("tags") or {}).items() if v is not None},
        "properties": {str(k): service_value(v) for k, v in (spec.get("properties") or {}).items() if v is not None},
        "system_metadata": spec.get("system_metadata"),
    }


def derive_steps(spec_text: str, *, source: str, commit: str) -> dict:
    """The child steps of a published pipeline component spec: name, component, the compute input it runs on."""
    spec = yaml.safe_load(spec_text)
    steps = []
    for name, job in (spec.get("jobs") or {}).items():
        compute = _PARENT_INPUT.match(str(job.get("compute", "")))
        steps.append({"name": name, "component": job.get("component"),
                      "compute_input": compute.group(1) if compute else None,
                      "outputs": sorted(job.get("outputs") or {})})
    return {"name": spec["name"], "version": str(spec["version"]), "source": {"path": source, "commit": commit},
            "steps": steps}


def regenerate(reference_dir: str | Path, out: str | Path = DATA_FILE) -> Path:
    """Rewrite ``registry_azureml.json`` from a reference snapshot laid out as /work/shared/reference."""
    ref = Path(reference_dir)
    head = "4b41f8ccbc01cf492767adc586ce1661c54c340a"
    models_dir = ref / "azureml-assets" / "models"
    models = [
        derive_model((models_dir / "phi-3-mini-4k-instruct.v14.spec.yaml").read_text(),
                     source="assets/models/system/phi-3-mini-4k-instruct/spec.yaml",
                     commit="81f80b9b91e61bdf147527e21db69b910c536edf", created="2024-11-02T00:00:00Z"),
        derive_model((models_dir / "phi-3-mini-4k-instruct.spec.yaml").read_text(),
                     source="assets/models/system/phi-3-mini-4k-instruct/spec.yaml",
                     commit="72891e189a88b204fc7a8714f49bd6087360baf5", created="2025-01-21T00:00:00Z"),
        derive_model((models_dir / "Phi-4.spec.yaml").read_text(), source="assets/models/system/Phi-4/spec.yaml",
                     commit="72891e189a88b204fc7a8714f49bd6087360baf5", created="2026-07-01T00:00:00Z"),
        derive_model((models_dir / "phi-3.5-mini-128k-instruct.spec.yaml").read_text(),
                     source="assets/models/system/phi-3.5-mini-128k-instruct/spec.yaml",
                     commit="72891e189a88b204fc7a8714f49bd6087360baf5", created="2026-07-01T00:00:00Z"),
    ]
    pipeline = "assets/training/finetune_acft_hf_nlp/components/pipeline_components/chat_completion/spec.yaml"
    steps = [
        derive_steps((ref / "azureml-assets" / "chat_completion_pipeline.spec.v0.0.51.yaml").read_text(),
                     source=pipeline + " (v0.0.51, mid-2024)", commit="not recorded in the snapshot"),
        derive_steps((ref / "azureml-assets" / pipeline).read_text(), source=pipeline, commit=head),
    ]
    data = {
        "about": "Derived by generator.emulator.registry_seed.regenerate from Azure/azureml-assets (snapshot HEAD "
                 f"{head}); 'created' of Phi-3-mini-4k-instruct 14/15 is the date of the commit that set that "
                 "version, of Phi-4 8 and Phi-3.5-mini-instruct 6 the spec's last change (their creation date is "
                 "not in the snapshot).",
        "models": models,
        "component_steps": steps,
    }
    path = Path(out)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------- loading
@cache
def _data() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


def models() -> dict[str, dict[str, dict]]:
    """``{name: {version: record}}`` of the registry's models (records as ``derive_model`` makes them)."""
    out: dict[str, dict[str, dict]] = {}
    for rec in _data()["models"]:
        out.setdefault(rec["name"], {})[rec["version"]] = rec
    return out


def component_steps(name: str, version: str) -> list[dict]:
    """The child steps of a registry pipeline component version (empty when unknown)."""
    for rec in _data()["component_steps"]:
        if rec["name"] == name and rec["version"] == version:
            return list(rec["steps"])
    return []


@cache
def components() -> dict[str, dict[str, dict]]:
    """``{name: {version: componentSpec}}``: every interface in ``generator/catalog/components/`` (shared: copy
    before changing)."""
    out: dict[str, dict[str, dict]] = {}
    for path in sorted(CATALOG_DIR.glob("*/*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        name, version = str(data["name"]), str(data["version"])
        inputs = {n: {k: v for k, v in port.items() if k in ("type", "optional", "default", "enum", "min", "max")}
                  for n, port in data["inputs"].items()}
        outputs = {n: {"type": t} for n, t in data["outputs"].items()}
        out.setdefault(name, {})[version] = {
            "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json",
            "name": name, "version": version, "type": data.get("type", "pipeline"),
            "display_name": " ".join(w.capitalize() for w in name.split("_")),
            "description": f"{name} {version} (interface from {' '.join(str(data.get('source', '')).split())})",
            "is_deterministic": True, "inputs": inputs, "outputs": outputs, "jobs": {},
        }
    return out
