"""The sans-IO core stays sans-IO: no driver library imported, no clock, no global random.

`import locust` monkey-patches the standard library for gevent, so the core must never pull
it (or simpy, or httpx) in; the check runs in a fresh interpreter so that modules imported
by other tests cannot hide an import.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = [
    "dcrload.core.lifecycle",
    "dcrload.core.actions",
    "dcrload.core.strategies",
    "dcrload.core.clocks",
    "dcrload.core.wire",
    "dcrload.core.semantics",
    "dcrload.core.streams",
    "dcrload.model.agent",
    "dcrload.model.plans",
    "dcrload.model.counts",
]
DRIVERS = {"simpy", "locust", "gevent", "httpx"}
PURE = ["lifecycle", "actions", "strategies", "clocks", "retry", "wire", "semantics", "streams"]
"""Core modules whose source must not read a clock or the global random source."""


def imported_drivers(modules: list[str]) -> list[str]:
    code = (
        "import sys, json\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"found = [m for m in sys.modules if m.split('.')[0] in {sorted(DRIVERS)!r}]\n"
        + "print(json.dumps(sorted(found)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_core_imports_no_driver_library() -> None:
    assert imported_drivers(CORE) == []


@pytest.mark.parametrize("module", CORE)
def test_each_core_module_alone_imports_no_driver_library(module: str) -> None:
    assert imported_drivers([module]) == []


def test_the_check_sees_a_driver_import() -> None:
    assert "simpy" in imported_drivers(["sim.fleet"])


def impurities(source: str) -> list[str]:
    """Clock reads and global-random calls in `source` (what a sans-IO module must not do)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module in {"time", "datetime"} or (module == "random" and names != ["Random"]):
                found.append(f"line {node.lineno}: from {module} import {', '.join(names)}")
            if any(n.split(".")[0] == "time" for n in names) and module is None:
                found.append(f"line {node.lineno}: import time")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, attr = node.value.id, node.attr
            if owner == "time":
                found.append(f"line {node.lineno}: time.{attr}")
            elif owner == "datetime" and attr in {"now", "utcnow", "today"}:
                found.append(f"line {node.lineno}: datetime.{attr}")
            elif owner == "random" and attr not in {"Random"}:
                found.append(f"line {node.lineno}: random.{attr}")
        if isinstance(node, ast.Attribute) and node.attr in {"now", "utcnow", "today"}:
            inner = node.value
            if isinstance(inner, ast.Attribute) and inner.attr in {"datetime", "date"}:
                found.append(f"line {node.lineno}: datetime.{node.attr}")
    return found


@pytest.mark.parametrize("name", PURE)
def test_core_source_reads_no_clock_and_no_global_random(name: str) -> None:
    source = (ROOT / "dcrload" / "core" / f"{name}.py").read_text()
    assert impurities(source) == []


def test_the_source_check_sees_clock_reads_and_global_random() -> None:
    bad = (
        "import time\nimport random\nimport datetime\n"
        "def f(rng: random.Random) -> float:\n"
        "    return time.monotonic() + random.random() + datetime.datetime.now().second\n"
    )
    found = impurities(bad)
    assert any("time.monotonic" in f for f in found)
    assert any("random.random" in f for f in found)
    assert any("datetime.now" in f for f in found)
    assert not any("random.Random" in f for f in found)
    assert impurities("from time import monotonic\n")
    assert impurities("from random import uniform\n")
