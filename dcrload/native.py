"""Which modules run compiled (mypyc, see setup.py), and running them as Python when not.

A source checkout keeps each compiled module's extension beside its source, and Python
imports the extension first. A source edited after the build would then run as its old
compiled self; so the build records the hash of every source it compiled, and on the
first import of `dcrload` or `sim` a module whose source no longer matches, or every
module when `DCRLOAD_PURE=1`, is imported from its source instead. All or none: compiled
modules call each other's classes natively, so one stale module makes all of them run as
Python (with a one-line warning naming it). Standard library only: setup.py imports this
file before the package's dependencies are installed.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

SOURCES = ("dcrload/core/clocks.py", "dcrload/model/usage.py", "sim/plainday.py")
"""The compiled modules, by source path from the project root."""

GROUP = "dcrload_native"
"""mypyc's shared library for the modules (`GROUP__mypyc`, at the root)."""

MANIFEST = "dcrload/native-build.json"
"""Written by an in-place build: each compiled source's SHA-256."""

ROOT = Path(__file__).resolve().parent.parent


def module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(root: Path) -> None:
    """Record the sources just compiled (setup.py, after an in-place build)."""
    hashes = {source: source_hash(root / source) for source in SOURCES}
    (root / MANIFEST).write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")


def remove_build(root: Path) -> None:
    """Remove the extensions and manifest of an earlier in-place build (a pure build)."""
    for source in SOURCES:
        folder = (root / source).parent
        for built in folder.glob(Path(source).stem + ".*.so"):
            built.unlink()
    for built in root.glob(GROUP + "__mypyc.*.so"):
        built.unlink()
    (root / MANIFEST).unlink(missing_ok=True)


def stale(root: Path) -> list[str]:
    """Sources changed since the in-place build that compiled them (none without one)."""
    manifest = root / MANIFEST
    if not manifest.is_file():
        return []  # an installed wheel, or a pure build: nothing beside it to go stale
    try:
        built = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return list(SOURCES)
    return [
        source
        for source in SOURCES
        if (root / source).is_file() and built.get(source) != source_hash(root / source)
    ]


def compiled(module: ModuleType) -> bool:
    """Whether `module` runs as a compiled extension."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)


class _FromSource(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' Python sources ahead of their extensions."""

    def __init__(self, root: Path) -> None:
        self.sources = {module_name(source): root / source for source in SOURCES}

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None or not source.is_file():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def choose(root: Path = ROOT) -> None:
    """Import the compiled modules from source if asked to or if any is stale (once)."""
    if any(isinstance(finder, _FromSource) for finder in sys.meta_path):
        return
    pure = os.environ.get("DCRLOAD_PURE") == "1"
    changed = [] if pure else stale(root)
    if changed:
        print(
            f"dcrload: {', '.join(changed)} changed since the last build; the compiled modules "
            "run as Python (slower) until `pip install -e .` compiles them again",
            file=sys.stderr,
        )
    if pure or changed:
        sys.meta_path.insert(0, _FromSource(root))
