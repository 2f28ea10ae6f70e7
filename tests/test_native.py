"""The compiled modules (setup.py, `dcrload.native`): compiled when built, the same counts as
their Python source, and never run stale.

The build compiles the plain day and the two modules it calls most with mypyc; a build that
silently stopped compiling them would halve the million-instance day's speed and no other
test would notice, so the suite's own process checks they are compiled. The byte-for-byte
tests of the plain day (`tests/test_plainday.py`) run on the compiled modules; here one run
in a process that imports them from source (`DCRLOAD_PURE=1`) is compared with the same run
compiled, record for record.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcrload import native

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
PURE = os.environ.get("DCRLOAD_PURE") == "1"

RECORDS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from dcrload import native
from golden import scenario_of
from test_plainday import everything
import importlib
compiled = [native.compiled(importlib.import_module(native.module_name(s))) for s in native.SOURCES]
day = scenario_of("default", ["fleet.instances=300", "scenario.duration=1d"])
records, taken = everything(day, plain=True)
print(json.dumps({"compiled": compiled, "records": records, "taken": taken}))
"""


def python(code: str, argument: Path, pure: bool) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, with `DCRLOAD_PURE=1` or without it."""
    environment = {key: value for key, value in os.environ.items() if key != "DCRLOAD_PURE"}
    if pure:
        environment["DCRLOAD_PURE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", code, str(argument)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def records(pure: bool) -> dict[str, object]:
    done = python(RECORDS, TESTS, pure)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # no stale-build warning either
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.skipif(PURE, reason="DCRLOAD_PURE=1: built and run as Python on purpose")
def test_the_hot_modules_run_compiled() -> None:
    for source in native.SOURCES:
        module = importlib.import_module(native.module_name(source))
        assert native.compiled(module), (
            f"{module.__name__} runs as Python ({module.__file__}): the build did not compile"
            " it (setup.py), or its source changed since (pip install -e . compiles it again)"
        )


@pytest.mark.skipif(PURE, reason="DCRLOAD_PURE=1: nothing compiled to compare with")
def test_compiled_and_source_modules_record_the_same_day() -> None:
    compiled, source = records(pure=False), records(pure=True)
    assert compiled["compiled"] == [True] * len(native.SOURCES)
    assert source["compiled"] == [False] * len(native.SOURCES)
    assert compiled["taken"] == source["taken"] > 250
    differ = [
        key
        for key in compiled["records"].keys() | source["records"].keys()  # type: ignore[attr-defined]
        if compiled["records"].get(key) != source["records"].get(key)  # type: ignore[attr-defined]
    ]
    assert differ == []


def source_tree(root: Path) -> Path:
    """A copy of the compiled modules' sources under `root`, as a checkout has them."""
    for source in native.SOURCES:
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_bytes((ROOT / source).read_bytes())
    return root


def test_a_source_changed_after_the_build_is_named_stale(tmp_path: Path) -> None:
    root = source_tree(tmp_path)
    assert native.stale(root) == []  # no manifest: an installed wheel or a pure build
    native.write_manifest(root)
    assert native.stale(root) == []
    edited = root / native.SOURCES[1]
    edited.write_text(edited.read_text() + "\n# an edit\n")
    assert native.stale(root) == [native.SOURCES[1]]
    (root / native.MANIFEST).write_text("{not json")
    assert native.stale(root) == list(native.SOURCES)


def test_a_pure_build_removes_an_earlier_builds_extensions(tmp_path: Path) -> None:
    root = source_tree(tmp_path)
    native.write_manifest(root)
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    built = [root / (source.removesuffix(".py") + suffix) for source in native.SOURCES]
    built.append(root / f"{native.GROUP}__mypyc{suffix}")
    kept = root / "dcrload" / "core" / "other.cpython-311-x86_64-linux-gnu.so"
    for path in [*built, kept]:
        path.write_bytes(b"")
    native.remove_build(root)
    assert [path for path in built if path.exists()] == []
    assert kept.exists() and not (root / native.MANIFEST).exists()
    assert all((root / source).exists() for source in native.SOURCES)


CHOOSE = r"""
import importlib, sys
from pathlib import Path
from dcrload import native
native.choose(Path(sys.argv[1]))
for source in native.SOURCES:
    module = importlib.import_module(native.module_name(source))
    print(native.compiled(module), Path(module.__file__).is_relative_to(sys.argv[1]))
"""


def choose_in(root: Path, pure: bool) -> subprocess.CompletedProcess[str]:
    return python(CHOOSE, root, pure)


def test_a_stale_build_runs_every_compiled_module_from_source_and_says_so(
    tmp_path: Path,
) -> None:
    root = source_tree(tmp_path)
    native.write_manifest(root)
    usage = root / "dcrload" / "model" / "usage.py"
    usage.write_text(usage.read_text() + "\n# an edit after the build\n")
    done = choose_in(root, pure=False)
    assert done.returncode == 0, done.stderr
    # all or none: the unchanged modules come from source too (they share native classes)
    assert done.stdout.split("\n")[:-1] == ["False True"] * len(native.SOURCES)
    assert done.stderr.count("\n") == 1
    assert "dcrload/model/usage.py changed since the last build" in done.stderr
    assert "pip install -e ." in done.stderr


def test_an_up_to_date_build_is_left_alone(tmp_path: Path) -> None:
    root = source_tree(tmp_path)
    native.write_manifest(root)
    done = choose_in(root, pure=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # the modules are the installed ones (compiled, unless this suite runs pure)
    expected = f"{not PURE} False"
    assert done.stdout.split("\n")[:-1] == [expected] * len(native.SOURCES)


def test_pure_runs_from_source_without_a_warning(tmp_path: Path) -> None:
    done = choose_in(source_tree(tmp_path), pure=True)  # the package's own sources, first
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.split("\n")[:-1] == ["False False"] * len(native.SOURCES)
