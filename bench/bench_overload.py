"""Benchmark: the mock's token route offered many times its capacity, for a bounded soak.

Covers: issue 11's overload figure. Scenario: the mock runs in its own process (throttle
off, so only load shedding refuses). First a closed loop measures the token route's
capacity on this machine, now (the cores are shared, so capacity is measured, never
assumed). Then an open loop offers FACTOR times that rate for SOAK seconds: requests start
on a fixed schedule whatever the answers, each on an idle keep-alive connection (a new one
when none is idle, up to MAX_CONNECTIONS), and a client gives up after TIMEOUT seconds by
closing its connection, as an impatient device would. A shedding server answers the excess
at once with 503 + Retry-After and serves the rest promptly; a queueing one serves every
request late, after its client has given up.

Written to ``bench/results/overload.json``: capacity, offered and achieved rates,
admitted (2xx) latency p50/p99/max, the shed share, timeouts, tokens the server issued,
the mock's RSS at the start and end of the soak (and each second), whether it is alive.

Run: ``python bench/bench_overload.py [--factor 10] [--soak 60] [--generators 2]``;
``--smoke`` is the few-second version the test suite runs (``--out`` moves the file).
"""

from __future__ import annotations

import argparse
import errno
import json
import multiprocessing
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from dcrload.commandline.processes import reap

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "overload.json"
ADMIN_KEY = "bench-overload-admin-key"

FACTOR = 10.0  # offered rate / measured capacity
SOAK = 60.0  # seconds of overload
CAPACITY_SECONDS = 5.0  # seconds of the closed-loop capacity probe
CAPACITY_CONNECTIONS = 32  # in the probe, over all generators
TIMEOUT = 10.0  # seconds a client waits before it gives up and closes its connection
MAX_CONNECTIONS = 1000  # open connections per generator: the population of clients
GENERATORS = 2  # load-generator processes
TOKEN_MEMO = 2048  # the mock's token memo: small, so it is full before the soak starts
DRAIN = 2.0  # seconds after the soak to collect late answers (beyond: counted as lost)


def _parse(buf: bytes) -> tuple[int, int] | None:
    """(status, length of the first response) when `buf` holds all of it, else None."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].lower()
    at = head.find(b"content-length:")
    end = head.find(b"\r\n", at)
    length = int(head[at + 15 : end if end > 0 else None]) if at >= 0 else 0
    total = head_end + 4 + length
    if len(buf) < total:
        return None
    return int(buf[9:12]), total


class _Conn:
    __slots__ = ("buf", "connecting", "sent_at", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.sent_at = 0.0
        self.connecting = True


def _generate(
    port: int, request: bytes, rate: float, seconds: float, closed: int, queue: Any
) -> None:
    """One generator process: an open loop at `rate` req/s, or `closed` connections looping.

    Puts a dict of counts and latencies on `queue`.
    """
    selector = selectors.DefaultSelector()
    idle: list[_Conn] = []
    busy: set[_Conn] = set()
    statuses: dict[int, int] = {}
    admitted: list[float] = []
    shed: list[float] = []
    counts = {"offered": 0, "sent": 0, "not_sent": 0, "timeouts": 0, "errors": 0, "lost": 0}

    def connect() -> _Conn | None:
        """A connection being opened (never blocks: a full accept queue must not stall us)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
            counts["errors"] += 1
            sock.close()
            return None
        conn = _Conn(sock)
        selector.register(sock, selectors.EVENT_WRITE, conn)
        return conn

    def drop(conn: _Conn) -> None:
        busy.discard(conn)
        selector.unregister(conn.sock)
        conn.sock.close()

    def send(conn: _Conn, now: float) -> None:
        """Start a request (its latency and timeout count from now, connecting included)."""
        conn.sent_at = now
        busy.add(conn)
        counts["sent"] += 1
        if conn.connecting:
            return  # written once connected
        try:
            conn.sock.send(request)
        except OSError:
            counts["errors"] += 1
            drop(conn)

    def connected(conn: _Conn) -> None:
        if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            counts["errors"] += 1
            drop(conn)
            return
        conn.connecting = False
        selector.modify(conn.sock, selectors.EVENT_READ, conn)
        try:
            conn.sock.send(request)
        except OSError:
            counts["errors"] += 1
            drop(conn)

    started = time.monotonic()
    end = started + seconds
    next_start = next_scan = started
    interval = 1.0 / rate if rate > 0 else 0.0
    if closed:
        for _ in range(closed):
            conn = connect()
            if conn is not None:
                send(conn, time.monotonic())
    while True:
        now = time.monotonic()
        if now >= end and (closed or not busy or now >= end + DRAIN):
            break
        while not closed and interval and next_start <= now and next_start < end:
            next_start += interval
            counts["offered"] += 1
            conn = idle.pop() if idle else (connect() if len(busy) < MAX_CONNECTIONS else None)
            if conn is None:
                counts["not_sent"] += 1
            else:
                send(conn, now)
        # sleep at least 5 ms: starts are sent in small batches, so the generator does not
        # spin and take the server's CPU (the schedule holds on average)
        wait = min(max(next_start - now, 0.005), 0.05) if not closed else 0.05
        for key, _ in selector.select(timeout=wait):
            conn = key.data
            if conn.connecting:
                connected(conn)
                continue
            try:
                data = conn.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                if conn in busy:
                    counts["errors"] += 1
                else:
                    idle.remove(conn)
                drop(conn)
                continue
            conn.buf += data
            parsed = _parse(conn.buf)
            if parsed is None:
                continue
            status, total = parsed
            conn.buf = conn.buf[total:]
            done = time.monotonic()
            statuses[status] = statuses.get(status, 0) + 1
            (admitted if 200 <= status < 300 else shed).append(done - conn.sent_at)
            busy.discard(conn)
            if closed and done < end:
                send(conn, done)
            else:
                idle.append(conn)
        now = time.monotonic()
        if now >= next_scan:  # clients that give up: they close their connection
            next_scan = now + 0.1
            for conn in [c for c in busy if now - c.sent_at > TIMEOUT]:
                counts["timeouts"] += 1
                drop(conn)
    counts["lost"] = len(busy) if not closed else 0
    for conn in [*busy, *idle]:
        conn.sock.close()
    wall = time.monotonic() - started
    queue.put(
        {"counts": counts, "statuses": statuses, "admitted": admitted, "shed": shed, "wall": wall}
    )


def drive(
    port: int, request: bytes, generators: int, seconds: float, rate: float = 0.0, closed: int = 0
) -> dict[str, Any]:
    queue: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(
            target=_generate, args=(port, request, rate / generators, seconds, closed, queue)
        )
        for _ in range(generators)
    ]
    for worker in workers:
        worker.start()
    parts = [queue.get(timeout=seconds + DRAIN + TIMEOUT + 60) for _ in workers]
    for worker in workers:
        worker.join(10)
    merged: dict[str, Any] = {"counts": {}, "statuses": {}, "admitted": [], "shed": []}
    for part in parts:
        for name, n in part["counts"].items():
            merged["counts"][name] = merged["counts"].get(name, 0) + n
        for status, n in part["statuses"].items():
            merged["statuses"][status] = merged["statuses"].get(status, 0) + n
        merged["admitted"] += part["admitted"]
        merged["shed"] += part["shed"]
    return merged


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def start_mock(out: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "dcrload", "mock", "--port", "0", "--db", ":memory:"]
    args += ["--no-throttle", "--out", str(out), "--token-memo", str(TOKEN_MEMO), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DCRLOAD_ADMIN_KEY": ADMIN_KEY}
    process = subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("dcrload mock listening on "):
            threading.Thread(target=process.stdout.read, daemon=True).start()  # drain
            return process, line.split()[-1]
    reap(process)
    raise RuntimeError("the mock did not start")


def token_request(url: str, out: Path) -> bytes:
    """The raw bytes of one token request for a freshly registered client."""
    statement = next((out / "keys").glob("*.jwt")).read_text().strip()
    device = {"X-Device-Info": "YmVuY2g="}
    answer = httpx.post(
        url + "/o/client/register", json={"software_statement": statement}, headers=device
    )
    answer.raise_for_status()
    creds = answer.json()
    form = (
        f"grant_type=client_credentials&client_id={creds['client_id']}"
        f"&client_secret={creds['client_secret']}"
    ).encode()
    return (
        b"POST /o/client/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nX-Device-Info: YmVuY2g=\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(form), form)
    )


def _stats(url: str) -> dict[str, Any]:
    """The mock's counters ({} when it cannot answer within 30 s: a figure in itself)."""
    try:
        answer = httpx.get(url + "/admin/stats", headers={"X-Admin-Key": ADMIN_KEY}, timeout=30)
        return dict(answer.json())
    except httpx.HTTPError:
        return {}


def soak_once(args: argparse.Namespace, mock_args: list[str], capacity: float = 0.0) -> dict:
    """Start a mock, measure its capacity (unless given), overload it; the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_mock(Path(tmp), mock_args)
        try:
            port = int(url.rsplit(":", 1)[1])
            request = token_request(url, Path(tmp))
            probe = drive(
                port, request, args.generators, args.capacity_seconds,
                closed=CAPACITY_CONNECTIONS // args.generators,
            )  # fmt: skip
            capacity = capacity or sum(probe["statuses"].values()) / args.capacity_seconds
            mock = psutil.Process(process.pid)
            rss: list[int] = [mock.memory_info().rss]
            before = _stats(url)
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(1.0):
                    rss.append(mock.memory_info().rss)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            soak = drive(port, request, args.generators, args.soak, rate=args.factor * capacity)
            sampling.set()
            sampler.join()
            rss.append(mock.memory_info().rss)
            after = _stats(url)
            try:
                health = httpx.get(url + "/healthz", timeout=30).status_code
            except httpx.HTTPError:
                health = 0
            alive = process.poll() is None and health == 200
        finally:
            reap(process)

    counts, statuses = soak["counts"], soak["statuses"]
    answered = sum(statuses.values())
    shed_answers = sum(n for s, n in statuses.items() if s in (429, 503))
    mb = 1024 * 1024
    return {
        "mock_args": mock_args,
        "capacity_rps": round(capacity, 1),
        "offered_rps": round(counts["offered"] / args.soak, 1),
        "sent_rps": round(counts["sent"] / args.soak, 1),
        "answered_rps": round(answered / args.soak, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "admitted": len(soak["admitted"]),
        "admitted_latency_s": {
            "p50": _quantile(soak["admitted"], 0.5),
            "p99": _quantile(soak["admitted"], 0.99),
            "max": max(soak["admitted"], default=None),
        },
        "shed_latency_s_p99": _quantile(soak["shed"], 0.99),
        "shed_share": round(shed_answers / answered, 4) if answered else None,
        "timeouts": counts["timeouts"],
        "not_sent": counts["not_sent"],
        "errors": counts["errors"],
        "lost": counts["lost"],
        "server": {
            "stats_answered": bool(after),
            "tokens_issued": after.get("tokens_issued", 0) - before.get("tokens_issued", 0),
            "shed": after.get("shed", 0) - before.get("shed", 0),
            "clients_gone": after.get("requests", {}).get("token", {}).get("499", 0),
        },
        "rss_mb": {
            "start": round(rss[0] / mb, 1),
            "end": round(rss[-1] / mb, 1),
            "series": [round(r / mb, 1) for r in rss],
        },
        "alive": alive,
    }


def _line(name: str, r: dict) -> str:
    return (
        f"{name}: capacity {r['capacity_rps']} req/s; offered {r['offered_rps']} req/s, "
        f"answered {r['answered_rps']}/s: admitted {r['admitted']} "
        f"(p50 {r['admitted_latency_s']['p50']}, p99 {r['admitted_latency_s']['p99']} s), "
        f"shed share {r['shed_share']}, timeouts {r['timeouts']}, "
        f"RSS {r['rss_mb']['start']} → {r['rss_mb']['end']} MB, alive {r['alive']}"
    )


def main(argv: list[str] | None = None) -> int:
    global TIMEOUT, MAX_CONNECTIONS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=FACTOR)
    parser.add_argument("--soak", type=float, default=SOAK)
    parser.add_argument("--capacity-seconds", type=float, default=CAPACITY_SECONDS)
    parser.add_argument("--timeout", type=float, default=TIMEOUT)
    parser.add_argument("--connections", type=int, default=MAX_CONNECTIONS, help="per generator")
    parser.add_argument("--generators", type=int, default=GENERATORS)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also soak a mock whose shedding is off (queue deadline 60 s), at the same rate",
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds: what the suite runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("mock_args", nargs="*", help="extra `dcrload mock` flags (after --)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.factor, args.soak, args.capacity_seconds = 6.0, 1.0, 0.5
        args.connections, args.generators = 1024, 1
        # 1,024 clients queue for ~0.5 s or more at this machine's rates: a 0.1 s deadline
        # makes sure the smoke run sheds, however fast the machine is at the moment
        args.mock_args = ["--queue-deadline", "0.1", *args.mock_args]
    TIMEOUT, MAX_CONNECTIONS = args.timeout, args.connections

    result: dict[str, Any] = {
        "benchmark": "bench/bench_overload.py",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "factor": args.factor,
            "soak_seconds": args.soak,
            "client_timeout_s": args.timeout,
            "connections": args.connections * args.generators,
            "generators": args.generators,
            "token_memo": TOKEN_MEMO,
        },
    }
    shedding = soak_once(args, args.mock_args)
    result.update(shedding)
    print(_line("shedding", shedding))
    if args.baseline:
        off = ["--queue-deadline", "60", "--max-concurrent", "100000", *args.mock_args]
        result["baseline_no_shedding"] = baseline = soak_once(args, off, shedding["capacity_rps"])
        print(_line("no shedding", baseline))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
