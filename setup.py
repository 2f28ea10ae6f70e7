"""The build: the plain day and the two modules it calls most compiled to C with mypyc.

mypyc (part of mypy) compiles type-annotated Python to a C extension with the same
behaviour; it cuts the CPU of a simulated day by about 40 % (docs/performance.md, item
11). The list is in `dcrload/native.py`, which also records what was compiled so that a
source changed after the build runs as Python instead of as its stale compiled self.
`DCRLOAD_PURE=1` at install builds no extension (and removes one left by an earlier one).
"""

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent


def load_native():
    """dcrload/native.py on its own (standard library only): the package's dependencies
    are not installed yet."""
    path = ROOT / "dcrload" / "native.py"
    spec = importlib.util.spec_from_file_location("dcrload_build_native", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


native = load_native()

BUILDS = {"build_ext", "build", "bdist_wheel", "editable_wheel", "develop", "install"}
"""setup.py commands that build extensions (PEP 517 also runs it for metadata alone)."""


def extensions() -> list:
    if os.environ.get("DCRLOAD_PURE") == "1":
        native.remove_build(ROOT)
        return []
    if not BUILDS.intersection(sys.argv):
        return []
    from mypyc.build import mypycify

    # no project config: its pydantic plugin is not in the build's environment, and
    # missing imports (numpy, pydantic) are typed Any, which mypyc handles as objects
    options = ["--config-file=", "--ignore-missing-imports"]
    return mypycify([*options, *native.SOURCES], opt_level="3", group_name=native.GROUP)


modules = extensions()
setup(ext_modules=modules)
if modules and {"editable_wheel", "build_ext"}.intersection(sys.argv):
    native.write_manifest(ROOT)  # an in-place build: its sources, as compiled
