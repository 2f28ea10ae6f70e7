"""A sweep: the grid of scenario variants x seeds, each run once and kept on disk.

`build_grid` reads the scenario, applies `--set`, and expands every `--vary PATH=V1,V2,...`
into the full product of variants; every value and every combination is validated before
anything runs or anything is written, so a bad `--vary` costs one line and no files.

Each run (one variant, one seed) is keyed by a hash of what decides its outcome: the fully
resolved scenario of the variant, the seed, and a fingerprint of the simulator's source
(`code_fingerprint`). A finished run is one small JSON file, `runs/<key>.json`, written
atomically (temp file + `os.replace`) by the worker process that ran it, so a sweep that is
interrupted, killed or crashes keeps every run it finished and the next sweep over the same
folder runs only what is missing. A changed scenario value or simulator module gives new
keys, never a stale answer.

Runs execute in a `ProcessPoolExecutor` (one simulation per process at a time);
`--jobs 1` runs them in this process instead, which is handy for profiling and debugging.
"""

from __future__ import annotations

import ast
import concurrent.futures as futures
import contextlib
import copy
import hashlib
import itertools
import json
import multiprocessing
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcrload.commandline.processes import pid_alive, pool_worker_start
from dcrload.core.errors import UsageError
from dcrload.model.overrides import apply_overrides, apply_traced, parse_value
from dcrload.model.scenario import Scenario, scenario_data, validate

RECORD_FORMAT = 1
"""Version of the run records; part of every key, so a format change re-runs everything."""


def _refresh_presets() -> list[str]:
    from dcrload.model.policies import PRESETS

    return list(PRESETS)


def _retry_kinds() -> list[str]:
    from dcrload.core.retry import RETRY_KINDS

    return list(RETRY_KINDS)


EXPANSIONS: dict[str, Callable[[], list[str]]] = {
    "refresh": _refresh_presets,
    "retry": _retry_kinds,
}
"""What `@presets` expands to, by the last key of the `--vary` path."""

# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True, slots=True)
class Axis:
    """One `--vary`: a dotted path and the values it takes, in the order given."""

    path: str
    texts: tuple[str, ...]
    """The values as written (after `@presets` expansion), used in files and tables."""
    values: tuple[Any, ...]
    """The values parsed like `--set` values."""
    labels: tuple[str, ...]
    """Short readable forms of the values, for tables and plots."""

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class Variant:
    """One point of the grid: a value for every axis, and the scenario that results."""

    label: str
    settings: tuple[tuple[str, str], ...]
    """(path, value text) per axis."""
    scenario: Scenario


@dataclass(frozen=True, slots=True)
class RunTask:
    """One simulation to run: a variant with one seed, and where its record goes."""

    key: str
    variant: str
    settings: tuple[tuple[str, str], ...]
    seed: int
    scenario: Scenario


@dataclass(frozen=True, slots=True)
class Grid:
    """Every variant of a sweep, plus what identifies the sweep as a whole."""

    source: str
    base: Scenario
    overrides: tuple[str, ...]
    axes: tuple[Axis, ...]
    variants: tuple[Variant, ...]

    def seeds(self, count: int) -> list[int]:
        """The scenario's seed, seed + 1, ... (`count` of them)."""
        first = self.base.scenario.seed
        return [first + k for k in range(count)]

    def tasks(self, seeds: Sequence[int], code: str) -> list[RunTask]:
        """Every variant x seed, variants in grid order, seeds ascending."""
        return [
            RunTask(run_key(v.scenario, seed, code), v.label, v.settings, seed, v.scenario)
            for v in self.variants
            for seed in seeds
        ]

    def fingerprint(self) -> str:
        """A hash of the sweep: the resolved base scenario and the set of values per axis.

        The seed count, the job count and the order of values are left out on purpose, so
        `--seeds 10` after `--seeds 3` lands in the same default folder and reuses the
        three runs per variant it already has.
        """
        axes = sorted((axis.path, sorted(_canonical(v) for v in axis.values)) for axis in self.axes)
        return _digest({"scenario": _dump(self.base), "axes": axes})[:10]


def split_values(text: str) -> list[str]:
    """Split on commas that are outside quotes, brackets and braces.

    `a,b` → [a, b]; `{kind="fixed_lead", lead="5m"},msal` → [the table, msal].
    """
    items: list[str] = []
    depth, quote, start = 0, "", 0
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:index].strip())
            start = index + 1
    items.append(text[start:].strip())
    return items


def label_of(value: Any, text: str) -> str:
    """A short readable form: `okta`, `6h`, `fixed_lead(lead=15m)`, `fixed(value=-10m)`."""
    if isinstance(value, dict):
        head = value.get("kind", value.get("dist"))
        rest = ", ".join(
            f"{k}={label_of(v, str(v))}" for k, v in value.items() if k not in {"kind", "dist"}
        )
        return f"{head}({rest})" if isinstance(head, str) else "{" + rest + "}"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    return " ".join(text.split())


def parse_vary(spec: str) -> Axis:
    """Read `PATH=V1,V2,...`; `@presets` among the values expands to every preset of the
    field (a cohort's `refresh` or `retry`). Raises UsageError on a malformed spec."""
    path, sep, rest = spec.partition("=")
    path = path.strip()
    if not sep or not path or not rest.strip():
        raise UsageError(
            f"--vary {spec!r}: expected PATH=V1,V2,..., e.g. cohorts.0.refresh=google-auth,msal"
        )
    if any(not part for part in path.split(".")):
        raise UsageError(f"--vary {spec!r}: {path!r} is not a dotted field path")
    if path == "scenario.seed":
        raise UsageError(f"--vary {spec!r}: seeds are swept with --seeds, not --vary")
    texts: list[str] = []
    for item in split_values(rest):
        if not item:
            raise UsageError(f"--vary {spec!r}: an empty value between commas")
        if item.startswith("@"):
            field = path.rsplit(".", 1)[-1]
            if item != "@presets" or field not in EXPANSIONS:
                known = ", ".join(f"{name} (@presets)" for name in EXPANSIONS)
                raise UsageError(
                    f"--vary {spec!r}: {item} is not known for {path}; expansions exist for {known}"
                )
            texts.extend(EXPANSIONS[field]())
        else:
            texts.append(item)
    values = [parse_value(t) for t in texts]
    seen: dict[str, str] = {}
    for text, value in zip(texts, values, strict=True):
        canonical = _canonical(value)
        if canonical in seen:
            raise UsageError(f"--vary {spec!r}: {text} is listed twice")
        seen[canonical] = text
    labels = [label_of(v, t) for v, t in zip(values, texts, strict=True)]
    return Axis(path, tuple(texts), tuple(values), tuple(labels))


def _set(data: dict[str, Any], path: str, text: str) -> dict[str, Any]:
    """Apply one `path=value` exactly as `--set` does; errors name the `--vary`."""
    try:
        return apply_overrides(data, [f"{path}={text}"], "--vary")
    except UsageError as error:
        detail = str(error).split(": ", 1)[-1]
        raise UsageError(f"--vary {path}={text}: {detail}") from None


def build_grid(scenario_path: str | Path, overrides: Sequence[str], specs: Sequence[str]) -> Grid:
    """Validate the scenario, the overrides, every value and every variant; raise UsageError.

    Nothing runs and nothing is written here.
    """
    if not specs:
        raise UsageError("compare needs at least one --vary PATH=V1,V2,...")
    axes = [parse_vary(spec) for spec in specs]
    paths = [axis.path for axis in axes]
    for path in paths:
        if paths.count(path) > 1:
            raise UsageError(f"--vary {path}: given twice; list all its values in one --vary")
    source = str(scenario_path)
    data = scenario_data(scenario_path)
    blame: list[tuple[str, str]] = []
    if overrides:
        data, blame = apply_traced(data, list(overrides))
    base = validate(data, source, blame)
    for axis in axes:  # each value on its own, so an error names the value at fault
        for text in axis.texts:
            validate(_set(data, axis.path, text), f"--vary {axis.path}={text}")
    named = _axis_names(axes)
    variants: list[Variant] = []
    for combination in itertools.product(*(range(len(a.texts)) for a in axes)):
        variant_data = copy.deepcopy(data)
        settings: list[tuple[str, str]] = []
        labels: list[str] = []
        for axis, name, index in zip(axes, named, combination, strict=True):
            variant_data = _set(variant_data, axis.path, axis.texts[index])
            settings.append((axis.path, axis.texts[index]))
            labels.append(axis.labels[index] if len(axes) == 1 else f"{name}={axis.labels[index]}")
        label = ", ".join(labels)
        scenario = validate(variant_data, f"--vary variant {label}")
        variants.append(Variant(label, tuple(settings), scenario))
    seen: dict[str, str] = {}
    for variant in variants:
        same = seen.setdefault(run_key(variant.scenario, 0, ""), variant.label)
        if same != variant.label:
            raise UsageError(f"--vary: {same} and {variant.label} are the same scenario")
    return Grid(source, base, tuple(overrides), tuple(axes), tuple(variants))


def _axis_names(axes: Sequence[Axis]) -> list[str]:
    """The last key of each path, or the whole path where two axes share a last key."""
    short = [axis.name for axis in axes]
    return [axis.name if short.count(axis.name) == 1 else axis.path for axis in axes]


# --------------------------------------------------------------------------- keys


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(data: Any) -> str:
    return hashlib.sha256(_canonical(data).encode()).hexdigest()


def _dump(scenario: Scenario) -> dict[str, Any]:
    return scenario.model_dump(mode="json", by_alias=True)


def run_key(scenario: Scenario, seed: int, code: str) -> str:
    """The key of one run: resolved scenario (with the run's seed), seed, code and format."""
    resolved = _dump(scenario)
    resolved["scenario"]["seed"] = seed
    return _digest({"format": RECORD_FORMAT, "scenario": resolved, "seed": seed, "code": code})[:20]


DRAWING = frozenset(
    {
        "dcrload.results.report",
        "dcrload.results.compare_plots",
        "dcrload.results.prediction_plot",
        "dcrload.results.html",
        "dcrload.results.style",
    }
)
"""Modules that only draw pictures: editing them changes no run, so no run key."""


def code_fingerprint() -> str:
    """A hash of the source of every module a run executes: `sim.fleet` and the summary
    and, transitively, every `dcrload`/`sim` module they import.

    Editing the lifecycle, a strategy or the fleet model changes every key, so cached runs
    of old code are never mixed with new ones; editing the tables, plots or an unrelated
    command does not.
    """
    digest = hashlib.sha256()
    for name, path in sorted(_run_modules().items()):
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _run_modules() -> dict[str, Path]:
    """The import closure of the simulation, found by reading `import` statements."""
    import dcrload

    root = Path(dcrload.__file__).parent.parent
    found: dict[str, Path] = {}
    todo = ["sim.fleet", "dcrload.results.summary"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        path = _module_file(root, name)
        if path is None or name in DRAWING:
            continue
        found[name] = path
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] not in {"dcrload", "sim"}:
        return None
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- the store


class RunStore:
    """`runs/<key>.json` records in one folder; every write is atomic."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The record of `key`, or None if it is missing or unreadable (it will be re-run)."""
        try:
            record = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        return record

    def has(self, key: str) -> bool:
        return self.load(key) is not None

    def write(self, record: dict[str, Any]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(record["key"])
        write_atomic(final, json.dumps(record, separators=(",", ":")) + "\n")
        return final

    def clean_temporaries(self) -> None:
        """Remove temp files a killed worker left behind (call only while holding the lock)."""
        for stale in self.folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder; a second sweep on it gets UsageError.

        The lock is a POSIX record lock (`fcntl.lockf`): the kernel drops it when this
        process dies, and forked pool workers do not inherit it (an `flock` they would
        share, and keep after a SIGKILL of the sweep). The file names the holder's pid; a
        lock still held while that pid is gone (an orphan of an older dcrload holds it) is
        taken over on a fresh file.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, same behaviour otherwise
            yield
            return
        path = self.folder / ".lock"
        held = os.path.realpath(path)
        if held in _HELD:  # record locks do not conflict within one process: check here
            raise UsageError(
                f"{self.folder.parent}: another dcrload compare is running on this folder"
            )
        handle = _take_lock(path, fcntl)
        _HELD.add(held)
        try:
            yield
        finally:
            _HELD.discard(held)
            with contextlib.suppress(OSError):
                fcntl.lockf(handle, fcntl.LOCK_UN)
            handle.close()


_HELD: set[str] = set()
"""Lock files this process holds (closing a second handle on one would drop its lock)."""


def _take_lock(path: Path, fcntl: Any) -> Any:
    """Open and lock `path` for this process; take over a lock whose holder is gone."""
    for _attempt in range(3):
        handle = path.open("a+")
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            text = handle.read().strip()
            handle.close()
            holder = int(text) if text.isdigit() else 0
            if holder and not pid_alive(holder):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # the stale holder keeps its lock on the old inode
                continue
            who = f" (pid {holder})" if holder else ""
            raise UsageError(
                f"{path.parent.parent}: another dcrload compare{who} is running on this folder"
            ) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # another sweep took the file over meanwhile: try again on the new one
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle
    raise UsageError(f"{path.parent.parent}: cannot take the sweep lock {path}; try again")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, then rename it over `path`.

    The temp file is opened like any other (the umask applies), so results keep the
    permissions a plain write would give them.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temp.open("x") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


# --------------------------------------------------------------------------- running


def record_of(task: RunTask, code: str) -> dict[str, Any]:
    """Simulate one variant x seed; return its record (plain data, from any machine)."""
    from dcrload.results.summary import summary_of
    from sim.fleet import simulate

    result = simulate(task.scenario, seed=task.seed)
    return {
        "format": RECORD_FORMAT,
        "key": task.key,
        "code": code,
        "variant": task.variant,
        "settings": dict(task.settings),
        "seed": task.seed,
        "summary": summary_of(result),
        "token_per_bin": result.counters.per_bin("token"),
        "finished_at": time.time(),
    }


def run_one(task: RunTask, folder: str, code: str) -> str:
    """Simulate one variant x seed and store its record; return the key.

    Runs in a worker process: the record is on disk before the parent hears of it.
    """
    RunStore(Path(folder)).write(record_of(task, code))
    return task.key


Tick = Callable[[int], None]
"""Called with the number of runs finished so far, a few times a second."""


def execute(
    tasks: Sequence[RunTask],
    store: RunStore,
    code: str,
    jobs: int,
    tick: Tick | None = None,
    dask: str | None = None,
) -> int:
    """Run every task (none of them on disk yet); return how many ran.

    On KeyboardInterrupt the pool is stopped at once (queued runs are cancelled, running
    ones are terminated) and the interrupt propagates; finished runs stay on disk.
    `dask` (a scheduler address, or "local") runs them on a Dask cluster instead: each
    run's record comes back to this process, which writes it (workers on other machines
    do not see this disk).
    """
    tick = tick or (lambda done: None)
    folder = str(store.folder)
    if dask is not None:
        return _execute_on_dask(tasks, store, code, jobs, tick, dask)
    if jobs <= 1 or len(tasks) <= 1:
        for done, task in enumerate(tasks):
            tick(done)
            run_one(task, folder, code)
        tick(len(tasks))
        return len(tasks)
    context = multiprocessing.get_context()
    # a forked worker's parent is this process; a spawn/forkserver one's may be a server
    parent = os.getpid() if context.get_start_method() == "fork" else None
    pool = futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=context,
        initializer=pool_worker_start,
        initargs=(parent,),
    )
    pending: set[futures.Future[str]] = set()
    try:
        pending = {pool.submit(run_one, task, folder, code) for task in tasks}
        done = 0
        while pending:
            finished, pending = futures.wait(
                pending, timeout=0.25, return_when=futures.FIRST_COMPLETED
            )
            for future in finished:
                future.result()  # a simulator bug surfaces here, with its traceback
                done += 1
            tick(done)
        pool.shutdown()
        return done
    except BaseException:
        _stop(pool)
        raise


def _execute_on_dask(
    tasks: Sequence[RunTask], store: RunStore, code: str, jobs: int, tick: Tick, address: str
) -> int:
    """Each run a Dask task; records are written here as they arrive."""
    from distributed import as_completed

    from sim.shards import close_dask, dask_client

    client = dask_client(address, jobs)
    try:
        submitted = [client.submit(record_of, task, code, pure=False) for task in tasks]
        done = 0
        for future in as_completed(submitted):
            store.write(future.result())
            done += 1
            tick(done)
        return done
    finally:
        close_dask(client)


def _stop(pool: futures.ProcessPoolExecutor) -> None:
    """Cancel queued runs and terminate the workers (Python 3.14 has `terminate_workers`)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:  # pragma: no cover - Python 3.14+
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)
