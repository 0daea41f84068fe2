"""Workflows built on the project operations (``generator.project``): ``up`` (the whole flow on an in-process
emulator) and ``promote`` (a trained model from a training environment to a deploying one)."""
