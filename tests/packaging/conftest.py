"""Packaging tests: fixtures from ``scaffold_support.py`` (a uniquely named module: every folder has a conftest)."""

from scaffold_support import amlgen  # noqa: F401
