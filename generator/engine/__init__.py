"""The workspace engine: plan and apply rendered specs through azure-ai-ml (see ``generator.workspace``).

Use it through the facade (``generator.api``: ``plan``, ``apply``, ``invoke``, ``destroy``, ``up``). Modules:
``specs`` (a specs folder as resources), ``plan`` (compare with the live workspace; text/json/markdown),
``apply`` (the dependency graph), ``ops`` (invoke, destroy), ``safety`` (protection by workspace), ``up``
(the whole flow on an in-process emulator).
"""
