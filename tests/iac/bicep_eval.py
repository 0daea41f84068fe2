"""A small evaluator of pycep-parser expression trees: enough Bicep (parameters, variables, `!`, `&&`, `||`,
`==`, `!=`, `?:`, `empty()`, `subscription()`, `resourceGroup()`, `guid()`, `subscriptionResourceId()`, string
interpolation, `x.y`) to compute what a template would deploy for given parameter values, offline.

pycep represents identifiers and string literals alike as plain strings: a string that names a parameter or a
variable is a reference, anything else a literal. Resource and module symbols evaluate to ``Symbol``; their
properties (``registry.id``) to ``Symbol`` paths, so scopes and guid() arguments can be compared structurally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Symbol:
    """A resource/module symbolic name or a property path below it (``registry.id``)."""

    path: str

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class Call:
    """The result of a deployment function whose value Azure computes (``guid``, ``resourceGroup``...)."""

    name: str
    args: tuple[Any, ...]


class Unsupported(Exception):
    pass


class BicepEval:
    def __init__(self, tree: dict[str, Any], params: dict[str, Any], *, subscription_id: str) -> None:
        declared = tree.get("parameters") or {}
        unknown = set(params) - set(declared)
        if unknown:
            raise KeyError(f"unknown parameters {sorted(unknown)}")
        self.params = {name: params.get(name, spec.get("default")) for name, spec in declared.items()}
        missing = [n for n, v in self.params.items() if v is None]
        if missing:
            raise KeyError(f"parameters without value or default: {missing}")
        self.variables = tree.get("variables") or {}
        self.symbols = set(tree.get("resources") or {}) | set(tree.get("modules") or {})
        self.subscription_id = subscription_id

    def var(self, name: str) -> Any:
        return self.ev(self.variables[name]["value"])

    def ev(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float)):
            return node
        if isinstance(node, str):
            return self._name_or_literal(node)
        if isinstance(node, list):
            return [self.ev(item) for item in node]
        if isinstance(node, dict):
            if set(node) == {"operator"}:
                return self._operator(node["operator"])
            if set(node) == {"function"}:
                return self._function(node["function"])
            return {key.strip("'"): self.ev(value) for key, value in node.items()}
        raise Unsupported(repr(node))

    def _name_or_literal(self, text: str) -> Any:
        if text in self.params:
            return self.params[text]
        if text in self.variables:
            return self.var(text)
        if text in self.symbols:
            return Symbol(text)
        return INTERPOLATION.sub(lambda m: str(self._name_or_literal(m.group(1))), text)

    def _operator(self, op: dict[str, Any]) -> Any:
        kind, args = op["type"], op["operands"]
        if kind == "not":
            return not self._bool(args["bool_value"])
        if kind == "and":
            return self._bool(args["operand_1"]) and self._bool(args["operand_2"])
        if kind == "or":
            return self._bool(args["operand_1"]) or self._bool(args["operand_2"])
        if kind == "equals":
            return self.ev(args["operand_1"]) == self.ev(args["operand_2"])
        if kind == "not_equals":
            return self.ev(args["operand_1"]) != self.ev(args["operand_2"])
        if kind == "conditional":
            return self.ev(args["true_value"] if self._bool(args["condition"]) else args["false_value"])
        if kind == "property_accessor":
            base = self.ev(args["operand_1"])
            prop = args["operand_2"]
            if isinstance(prop, dict):  # a.b.c arrives as a.(b.c)
                inner = prop["operator"]
                assert inner["type"] == "property_accessor", inner
                prop = f"{inner['operands']['operand_1']}.{inner['operands']['operand_2']}"
            if isinstance(base, Symbol):
                return Symbol(f"{base.path}.{prop}")
            if isinstance(base, dict):
                value = base
                for part in prop.split("."):
                    value = value[part]
                return value
            raise Unsupported(f"property {prop} of {base!r}")
        raise Unsupported(kind)

    def _bool(self, node: Any) -> bool:
        value = self.ev(node)
        if not isinstance(value, bool):
            raise Unsupported(f"not a bool: {value!r}")
        return value

    def _function(self, fn: dict[str, Any]) -> Any:
        kind, args = fn["type"], fn.get("parameters") or {}
        if kind == "empty":
            value = self.ev(args["item_to_test"])
            return value is None or len(value) == 0
        if kind == "subscription":
            return {"subscriptionId": self.ev(args.get("subscription_id")) or self.subscription_id}
        if kind == "resource_group":
            sub = self.ev(args.get("subscription_id")) or self.subscription_id
            return Call("resourceGroup", (sub, self.ev(args["resource_group_name"])))
        if kind == "guid":
            return Call("guid", tuple(self.ev(v) for v in args.values() if v is not None))
        if kind == "subscription_resource_id":
            names = [self.ev(args[k]) for k in ("resource_name_1", "resource_name_2") if args.get(k) is not None]
            sub = self.ev(args.get("subscription_id")) or self.subscription_id
            return f"/subscriptions/{sub}/providers/{self.ev(args['resource_type'])}/" + "/".join(names)
        raise Unsupported(kind)


def body(entry: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(condition or None, body) of a resource/module entry, looking through `if (...)`."""
    config = entry["config"]
    if isinstance(config, dict) and "condition" in config and "config" in config:
        return config["condition"], config["config"]
    return None, config
