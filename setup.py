"""Build hook: the wheel carries amlgen's scaffold (``amlgen init``) as package data.

The scaffold's single source is this repository's own files (``templates/``, ``infra/``, ...), listed once in
``generator/scaffold/table.py``. A non-editable build copies them into ``generator/scaffold/repo/`` of the wheel;
an editable install reads them from the repository itself, so git never holds a second copy. The sdist carries
the sources (``MANIFEST.in``), and a wheel built from it runs this same hook. A listed source that is missing
fails the build: no wheel ships without its scaffold.

Everything else about the package is in ``pyproject.toml``.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _table():
    """``generator/scaffold/table.py`` loaded by path (standard library only; the package is not importable yet)."""
    spec = importlib.util.spec_from_file_location("_amlgen_scaffold_table", HERE / "generator" / "scaffold" / "table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class BuildPyWithScaffold(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the scaffold from the repository
        table = _table()
        dest = Path(self.build_lib) / table.BUNDLE_DIR
        if dest.exists():
            shutil.rmtree(dest)
        for rel in table.repo_files(HERE):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / rel, target)


setup(cmdclass={"build_py": BuildPyWithScaffold})
