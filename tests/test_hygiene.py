"""No orphan after a kill, no lock kept by the dead, no secret left behind (issue 11.1).

Every process a run starts inherits a marker in its environment (`MARKER`, a fresh value
per test), so "no process of the run is alive" is a scan of /proc that needs no psutil and
sees processes that left the run's process group or were re-parented to init.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import dcrload_here

from dcrload.analysis.prediction import EXIT_BEHIND, EXIT_OUTCOMES, EXIT_PREDICTION
from dcrload.commandline.processes import child_options, pid_alive, reap
from dcrload.core.errors import UsageError
from dcrload.results.files import ResultsDir, remove_dead_staging
from loadtests.statements import load_keys, write_statements
from sim.sweep import RunStore

ROOT = Path(__file__).resolve().parent.parent
SHOOTOUT = str(ROOT / "scenarios" / "strategy-shootout.toml")
SMALL = str(ROOT / "tests" / "scenarios" / "loadtest-small.toml")
MARKER = "DCRLOAD_TEST_RUN"
GONE_WITHIN = 5.0
"""Seconds the children of a killed command get to disappear."""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def marked(tag: str) -> dict[int, str]:
    """{pid: command line} of every live process whose environment carries `tag`."""
    found: dict[int, str] = {}
    needle = f"{MARKER}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and pid_alive(int(entry.name)):
            found[int(entry.name)] = command.replace(b"\0", b" ").decode(errors="replace")
    return found


def environ_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)


def wait_for(check, timeout: float, step: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll `check()` until it is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = check()
    return value


@pytest.fixture
def tag() -> Iterator[str]:
    """A fresh marker; anything still carrying it afterwards is killed (and fails the test)."""
    value = uuid.uuid4().hex
    yield value
    for pid in marked(value):
        os.kill(pid, signal.SIGKILL)


def start(tag: str, *args: str) -> subprocess.Popen[str]:
    """`python -m dcrload ARGS` with the marker, in its own group (so the test can reap it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dcrload", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, MARKER: tag},
        start_new_session=True,
    )


def kill_and_check_nothing_survives(process: subprocess.Popen[str], tag: str) -> float:
    """SIGKILL `process`; return how long its children took to go; fail if any stays."""
    process.kill()
    process.communicate(timeout=10)
    killed = time.monotonic()
    left = wait_for(lambda: not marked(tag), GONE_WITHIN)
    assert left, f"alive {GONE_WITHIN} s after SIGKILL: {marked(tag)}"
    return time.monotonic() - killed


# --------------------------------------------------------------------------- children


ORPHAN_MAKER = """
import subprocess, sys, time
from dcrload.commandline.processes import child_options
options = child_options() if sys.argv[1] == "guarded" else {}
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], **options)
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["guarded", "plain"])
def test_a_child_dies_with_its_parent_killed_by_sigkill(mode: str, tag: str) -> None:
    """`child_options` is what makes the difference: a plain child is orphaned (control)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_MAKER, mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, MARKER: tag},
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert pid_alive(child)
    parent.kill()
    parent.wait()
    gone = wait_for(lambda: not pid_alive(child), 2.0 if mode == "guarded" else 0.5)
    if mode == "guarded":
        assert gone, "the child outlived its parent"
        assert os.getpgid(os.getpid()) != child  # it had a group of its own
    else:
        assert not gone, "a plain child should have been orphaned (the check cannot fail?)"
        os.kill(child, signal.SIGKILL)


def test_reap_stops_the_whole_group_of_a_child() -> None:
    """A grandchild in the child's group goes with it, even when the child is gone first."""
    script = (
        "import subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(g.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, **child_options()
    )
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())
    reap(child, grace=2)
    assert wait_for(lambda: not pid_alive(grandchild), 2.0)


# --------------------------------------------------------------------------- the sweep lock


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


LOCKER = """
import fcntl, sys, time
from pathlib import Path
from sim.sweep import RunStore
try:
    with RunStore(Path(sys.argv[1])).locked():
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
except Exception as error:
    print(f"refused: {error}", flush=True)
"""


def try_lock(folder: Path, hold: float = 0.0) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(folder), str(hold)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    return process


TERMINATED_WORKER = r"""
import os, signal, sys, time
from concurrent import futures
import multiprocessing
from dcrload.cli import main  # noqa: F401  (the command's module, as a run has it)
from dcrload.commandline import processes

def stop(signum, frame):  # the command's own handler (dcrload.cli._stop)
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
start = processes.pool_worker_start if sys.argv[1] == "pool" else (lambda parent: None)
pool = futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                   initializer=start, initargs=(os.getpid(),))
def dispositions():
    names = {signal.SIG_IGN: "ignore", signal.SIG_DFL: "default"}
    return [names.get(signal.getsignal(s), "handler")
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]

print(*pool.submit(dispositions).result(), flush=True)
time.sleep(0.3)  # the worker waits for its next task
(worker,) = pool._processes.values()
worker.terminate()  # what a command's clean-up does to its pool's workers
worker.join(10)
print(worker.exitcode, flush=True)
pool.shutdown(wait=False, cancel_futures=True)
"""


@pytest.mark.parametrize("initializer", ["pool", "none"])
def test_a_pool_worker_terminated_by_its_command_dies_quietly(initializer: str) -> None:
    """A forked worker inherits the command's SIGTERM handler, which raises
    KeyboardInterrupt; `pool_worker_start` puts SIGTERM and SIGHUP back to their default,
    so the command's clean-up ends its workers without a traceback on stderr."""
    done = subprocess.run(
        [sys.executable, "-c", TERMINATED_WORKER, initializer],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    if initializer == "pool":
        assert lines == ["ignore default default", str(-signal.SIGTERM)], done.stderr
        assert "Traceback" not in done.stderr, done.stderr
    else:  # without it: the inherited handler, and the traceback this guards against
        assert lines[0].split()[1] == "handler", done.stderr
        assert "Traceback" in done.stderr and "KeyboardInterrupt" in done.stderr, lines


def test_a_forked_worker_does_not_keep_the_sweep_lock(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    context = multiprocessing.get_context("fork")
    with RunStore(folder).locked():
        worker = context.Process(target=_sleep, args=(30,))
        worker.start()
        holder = try_lock(folder)
        out, _ = holder.communicate(timeout=30)
        assert out.startswith("refused:") and f"(pid {os.getpid()})" in out, out
    try:
        after = try_lock(folder)
        out, _ = after.communicate(timeout=30)
        assert worker.is_alive()
        assert out.strip() == "locked", out  # the forked worker holds nothing
    finally:
        worker.kill()
        worker.join()


def test_a_lock_whose_holder_is_gone_is_taken_over(tmp_path: Path) -> None:
    """An orphan holds the lock but the pid in the file is dead: a new sweep takes over."""
    folder = tmp_path / "runs"
    orphan = try_lock(folder, hold=30)
    assert orphan.stdout is not None and orphan.stdout.readline().strip() == "locked"
    try:
        busy = rf"another dcrload compare \(pid {orphan.pid}\)"
        with pytest.raises(UsageError, match=busy), RunStore(folder).locked():
            pass
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (folder / ".lock").write_text(f"{dead.pid}\n")  # what an inherited lock looks like
        with RunStore(folder).locked():
            assert (folder / ".lock").read_text().strip() == str(os.getpid())
    finally:
        reap(orphan, grace=1)


# --------------------------------------------------------------------------- staging folders


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_staging_folders_of_dead_runs_are_removed_by_the_next_run(tmp_path: Path) -> None:
    dead = tmp_path / f".old-run.staging-{dead_pid()}-abc123"
    (dead / "keys").mkdir(parents=True)
    (dead / "keys" / "x.jwt").write_text("secret")
    mine = tmp_path / f".other.staging-{os.getpid()}-def456"  # a live run's: kept
    mine.mkdir()
    stranger = tmp_path / ".something-else"  # not a staging folder: kept
    stranger.mkdir()
    with ResultsDir(tmp_path / "new-run") as staging:
        assert re.fullmatch(rf"\.new-run\.staging-{os.getpid()}-\w+", staging.name)
        (staging / "summary.json").write_text("{}")
    assert not dead.exists() and mine.exists() and stranger.exists()
    assert (tmp_path / "new-run" / "summary.json").exists()
    assert remove_dead_staging(tmp_path) == []


def test_a_stop_right_after_the_staging_folder_is_made_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop signal (KeyboardInterrupt from `dcrload.cli`'s handler) that lands once the
    folder exists but before `__enter__` returns, where `with` would not clean up: seen
    in CI with the process preempted right after mkdir."""
    make = Path.mkdir

    def made_then_stopped(self: Path, *args: Any, **kwargs: Any) -> None:
        make(self, *args, **kwargs)
        if ".staging-" in self.name:
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "mkdir", made_then_stopped)
    with pytest.raises(KeyboardInterrupt), ResultsDir(tmp_path / "run"):
        pytest.fail("the body must not run")
    assert list(tmp_path.iterdir()) == []


def test_a_staging_name_taken_already_is_left_to_its_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that mkdir did not make (it exists) is not removed on the way out."""
    import dcrload.results.files as files

    monkeypatch.setattr(files.secrets, "token_hex", lambda n: "taken")
    other = tmp_path / f".run.staging-{os.getpid()}-taken"
    (other / "keys").mkdir(parents=True)
    with pytest.raises(FileExistsError), ResultsDir(tmp_path / "run"):
        pytest.fail("the body must not run")
    assert (other / "keys").is_dir()


def test_statements_can_be_written_without_their_private_key(tmp_path: Path) -> None:
    key, written = write_statements(tmp_path, ["app-a", "app-b"], keep_private=False)
    assert sorted(p.name for p in tmp_path.glob("*.pem")) == [f"{key.kid}.pub.pem"]
    for path in tmp_path.iterdir():
        assert "PRIVATE KEY" not in path.read_text()
    keys = load_keys(tmp_path)
    assert keys.keys[key.kid].private_key is None
    assert set(keys.statements) == {"app-a", "app-b"} == set(written)


# --------------------------------------------------------------------------- SIGKILL of a run

COMPARE = ["compare", SHOOTOUT, "--vary", "cohorts.0.refresh=okta,msal", "--seeds", "3",
           "--set", "fleet.instances=400", "--jobs", "2"]  # fmt: skip


def records(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("*.json"))


def test_sigkill_of_compare_leaves_no_worker_and_the_rerun_resumes(
    tmp_path: Path, tag: str
) -> None:
    out = tmp_path / "sweep"
    process = start(tag, *COMPARE, "--out", str(out))
    try:
        assert wait_for(lambda: len(marked(tag)) >= 3 and records(out), 60), (
            "no pool worker or no run record appeared"
        )
    finally:
        took = kill_and_check_nothing_survives(process, tag)
    kept = {p.name: p.stat().st_mtime_ns for p in records(out)}
    assert 1 <= len(kept) < 6
    print(f"workers gone {took:.2f} s after SIGKILL")

    # the same sweep resumed in this process, one run at a time: what is checked is the folder
    rerun = dcrload_here(*COMPARE[:-2], "--jobs", "1", "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(kept)} on disk, {6 - len(kept)} to run" in rerun.stdout
    assert {p.name: p.stat().st_mtime_ns for p in records(out) if p.name in kept} == kept
    assert len(records(out)) == 6


def test_sigkill_of_a_load_test_leaves_no_process_and_no_secret(tmp_path: Path, tag: str) -> None:
    out = tmp_path / "run"
    args = ["loadtest", SMALL, "--target", "mock", "--out", str(out)]
    process = start(tag, *args, "--workers", "2", "--duration", "20s")
    try:
        # the mock, the Locust master and both workers
        assert wait_for(lambda: len(marked(tag)) >= 5, 60), marked(tag)
        children = marked(tag)
        time.sleep(1.0)  # let the workers connect and the admin API be used
        mock = next(pid for pid, command in children.items() if "-m dcrload mock " in command)
        admin_key = environ_of(mock)["DCRLOAD_ADMIN_KEY"]
        assert len(admin_key) >= 16
        commands = marked(tag)
    finally:
        took = kill_and_check_nothing_survives(process, tag)
    print(f"mock and Locust gone {took:.2f} s after SIGKILL")
    assert not any(admin_key in command for command in commands.values()), commands
    (staging,) = tmp_path.glob(".run.staging-*")  # left by the SIGKILL, holding no secret
    for path in staging.rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert b"PRIVATE KEY" not in text, path
            assert admin_key.encode() not in text, path

    # in this process, one Locust worker: what is checked is the folder (and that what the
    # run started, marked through this process's environment, is gone when it returns)
    rerun = dcrload_here(*args, "--duration", "4s", env={MARKER: tag})
    # a finished run with its verdict: a pass, or the prediction's own verdict on a 4 s run
    # in a busy suite (its last second's outcomes, its generator; other tests judge those)
    verdicts = (0, EXIT_PREDICTION, EXIT_OUTCOMES, EXIT_BEHIND)
    assert rerun.returncode in verdicts, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert (out / "summary.json").is_file()
    assert not staging.exists()  # the dead run's staging folder was removed
    for path in out.rglob("*"):  # a finished run keeps no private key either
        assert not path.is_file() or b"PRIVATE KEY" not in path.read_bytes(), path
    for line in (out / "mock.log").read_text().splitlines():  # the key itself never shows
        assert "admin key" not in line or "<admin key>" in line or "from $" in line, line
    assert json.loads((out / "summary.json").read_text())["endpoints"]["register"]["requests"]
    assert not marked(tag)


def test_simulate_ends_cleanly_on_sighup_and_a_killed_ones_staging_goes_next_run(
    tmp_path: Path, tag: str
) -> None:
    """SIGHUP (a closed terminal) is handled like SIGTERM; after SIGKILL the staging folder
    stays until the next run in the same folder removes it."""
    big = ["--set", "fleet.instances=200000", "--set", "scenario.duration=1d"]

    def staging() -> list[Path]:
        return sorted(tmp_path.glob(".*.staging-*"))

    hup = start(tag, "simulate", SHOOTOUT, "--out", str(tmp_path / "hup"), *big)
    assert wait_for(staging, 30), "no staging folder appeared"
    hup.send_signal(signal.SIGHUP)
    _, stderr = hup.communicate(timeout=30)
    assert hup.returncode == 130 and "dcrload: interrupted" in stderr, stderr
    assert "Traceback" not in stderr and not staging()

    killed = start(tag, "simulate", SHOOTOUT, "--out", str(tmp_path / "killed"), *big)
    (left,) = wait_for(staging, 30)
    kill_and_check_nothing_survives(killed, tag)
    assert left.exists()
    tiny = ["--set", "fleet.instances=50", "--set", "scenario.duration=1h"]
    small = dcrload_here("simulate", SHOOTOUT, "--out", str(tmp_path / "small"), *tiny)
    assert small.returncode == 0, small.stderr
    assert not left.exists() and staging() == []
