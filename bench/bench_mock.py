"""Benchmark: requests/s of the mock's token route next to bare apps, same run, same load.

Covers: issue 4's speed figure. One uvicorn process serves each target in turn, with the
very same server configuration (`loadtests.mockserver.serve`):

- ``token``: the mock's ``POST /o/client/token`` (form parsing, cached client lookup,
  SHA-256 + constant-time compare, an ES256-signed JWT, JSON answer);
- ``bare-asgi``: a raw ASGI callable answering a body of the token answer's exact size;
- ``bare-starlette``: a Starlette JSON route answering a body of the same size (the
  reference DESIGN.md states the goal against: the token route should reach half of it).

The load generator is pure Python: GENERATORS processes, each driving CONNECTIONS
keep-alive sockets with PIPELINE requests in flight on each through one `selectors` loop.
It sends pre-built request bytes and parses only the status line and Content-Length, so it
costs a few microseconds per request. On a 2-core machine the generator and the server
share the cores; the figures are therefore a lower bound, but the ratio compares like
with like. Loopback only; every phase is bounded in time.

``--url http://127.0.0.1:PORT/PATH`` measures any other server on this machine with the
same generator (a GET, or a form POST with ``--url-form``): the independent-server side of
the comparison; loopback only.

Run: ``python bench/bench_mock.py [--seconds 5] [--generators 2] [--alg ES256] [--url URL]``;
writes ``bench/results/mock.json`` and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from dcrload.commandline.processes import reap

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "mock.json"

SECONDS = 5.0  # measured seconds per target
WARMUP = 1.0  # seconds of load before measuring
GENERATORS = 2  # load-generator processes
CONNECTIONS = 16  # keep-alive connections per generator
PIPELINE = 4  # requests in flight per connection


# --------------------------------------------------------------------------- bare servers


def _bare_asgi(body: bytes) -> Any:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, as the token route must
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _bare_starlette(size: int) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    # JSONResponse renders compactly: {"x":"..."} is 8 bytes of framing
    payload = {"x": "a" * max(0, size - 8)}

    async def route(request: Any) -> JSONResponse:
        await request.body()
        return JSONResponse(payload, status_code=201)

    return Starlette(routes=[Route("/o/client/token", route, methods=["POST"])])


def serve_bare(kind: str, size: int) -> None:
    """Child process: serve a bare app on a free loopback port (prints the listening line)."""
    from loadtests.mockserver.serve import bind, serve

    body = json.dumps({"x": "a" * max(0, size - 8)}, separators=(",", ":")).encode()
    app = _bare_asgi(body) if kind == "bare-asgi" else _bare_starlette(size)
    serve(app, bind("127.0.0.1", 0))


def start(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("dcrload mock listening on "):
            return process, line.split()[-1]
    reap(process)
    raise RuntimeError(f"server {args} did not start")


# --------------------------------------------------------------------------- load generator


def _generate(port: int, request: bytes, seconds: float, warmup: float, queue: Any) -> None:
    """One generator process: keep PIPELINE requests in flight on each connection."""
    selector = selectors.DefaultSelector()
    states = []
    for _ in range(CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        state = {"sock": sock, "buf": b""}
        states.append(state)
        selector.register(sock, selectors.EVENT_READ, state)
        sock.sendall(request * PIPELINE)
    started = time.monotonic()
    measure_from, end = started + warmup, started + warmup + seconds
    counted = 0
    statuses: dict[str, int] = {}
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for key, _ in selector.select(timeout=0.5):
            state = key.data
            data = state["sock"].recv(262144)
            if not data:
                raise RuntimeError("server closed the connection")
            buf = state["buf"] + data
            done = 0
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                head = buf[:head_end]
                at = head.lower().find(b"content-length:")
                length = int(
                    head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]
                )
                total = head_end + 4 + length
                if len(buf) < total:
                    break
                status = head[9:12].decode()
                statuses[status] = statuses.get(status, 0) + 1
                buf = buf[total:]
                done += 1
            state["buf"] = buf
            if done:
                if measure_from <= time.monotonic() < end:
                    counted += done
                state["sock"].send(request * done)
    for state in states:
        state["sock"].close()
    queue.put((counted, statuses))


def load(
    url: str, request: bytes, generators: int, seconds: float, warmup: float = WARMUP
) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    queue: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_generate, args=(port, request, seconds, warmup, queue))
        for _ in range(generators)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + warmup + 60) for _ in workers]
    for worker in workers:
        worker.join(10)
    statuses: dict[str, int] = {}
    for _, by_status in results:
        for status, n in by_status.items():
            statuses[status] = statuses.get(status, 0) + n
    total = sum(counted for counted, _ in results)
    return {"requests_per_second": round(total / seconds, 1), "statuses": statuses}


# --------------------------------------------------------------------------- main


def url_request(url: str, form: str | None) -> tuple[str, bytes]:
    """(base URL, request bytes) for `--url`: loopback only, a GET or a form POST."""
    parts = httpx.URL(url)
    if parts.host not in ("127.0.0.1", "localhost") or parts.scheme != "http" or not parts.port:
        raise SystemExit(f"--url {url}: expected http://127.0.0.1:PORT/PATH (loopback only)")
    target = parts.raw_path.decode() or "/"
    head = f"Host: 127.0.0.1:{parts.port}\r\n"
    if form is None:
        return f"http://127.0.0.1:{parts.port}", f"GET {target} HTTP/1.1\r\n{head}\r\n".encode()
    body = form.encode()
    request = (
        f"POST {target} HTTP/1.1\r\n{head}Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    return f"http://127.0.0.1:{parts.port}", request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--generators", type=int, default=GENERATORS)
    parser.add_argument("--warmup", type=float, default=WARMUP, help="seconds before measuring")
    parser.add_argument("--alg", default="ES256", choices=("ES256", "EdDSA", "RS256"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--url", help="also measure this loopback URL with the same generator")
    parser.add_argument("--url-form", help="POST this form body to --url (default: GET)")
    parser.add_argument("--serve-bare", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare[0], int(args.serve_bare[1]))
        return 0
    if not 0 < args.seconds <= 60 or not 1 <= args.generators <= 16:
        parser.error("--seconds must be in (0, 60] and --generators in [1, 16]")

    other = url_request(args.url, args.url_form) if args.url else None  # refused before any run
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        mock, url = start(
            [
                "-m",
                "loadtests.mockserver",
                "--port",
                "0",
                "--db",
                ":memory:",
                "--no-throttle",
                "--out",
                tmp,
                "--token-alg",
                args.alg,
            ]
        )
        try:
            statement = (Path(tmp) / "keys" / "dcrload-demo.jwt").read_text().strip()
            device = {"X-Device-Info": "YmVuY2g="}
            creds = httpx.post(
                url + "/o/client/register", json={"software_statement": statement}, headers=device
            ).json()
            form = (
                f"grant_type=client_credentials&client_id={creds['client_id']}"
                f"&client_secret={creds['client_secret']}"
            ).encode()
            sample = httpx.post(
                url + "/o/client/token",
                content=form,
                headers={**device, "Content-Type": "application/x-www-form-urlencoded"},
            )
            assert sample.status_code == 201, sample.text
            size = len(sample.content)
            request = (
                b"POST /o/client/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\nX-Device-Info: YmVuY2g=\r\n"
                + f"Content-Length: {len(form)}\r\n\r\n".encode()
                + form
            )
            figures["token"] = load(url, request, args.generators, args.seconds, args.warmup)
        finally:
            reap(mock)
        for kind in ("bare-asgi", "bare-starlette"):
            server, bare_url = start([str(Path(__file__)), "--serve-bare", kind, str(size)])
            try:
                check = httpx.post(bare_url + "/o/client/token", content=form)
                assert len(check.content) == size, (len(check.content), size)
                figures[kind] = load(bare_url, request, args.generators, args.seconds, args.warmup)
            finally:
                reap(server)

    if other is not None:
        base, request = other
        figures["url"] = {
            "url": args.url,
            **load(base, request, args.generators, args.seconds, args.warmup),
        }
    token = figures["token"]["requests_per_second"]
    result = {
        "benchmark": "mock token route vs bare apps (same server config, same generator)",
        "token_alg": args.alg,
        "body_bytes": size,
        "seconds": args.seconds,
        "generators": args.generators,
        "connections_per_generator": CONNECTIONS,
        "pipeline": PIPELINE,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "targets": figures,
        "ratio_token_to_bare_asgi": round(token / figures["bare-asgi"]["requests_per_second"], 3),
        "ratio_token_to_bare_starlette": round(
            token / figures["bare-starlette"]["requests_per_second"], 3
        ),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "url" in figures:
        other = figures["url"]["requests_per_second"]
        result["ratio_token_to_url"] = round(token / other, 3) if other else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, figure in figures.items():
        print(f"{name:>15}: {figure['requests_per_second']:>9.0f} req/s  {figure['statuses']}")
    print(f"token / bare ASGI      = {result['ratio_token_to_bare_asgi']:.2f}")
    print(f"token / bare Starlette = {result['ratio_token_to_bare_starlette']:.2f}  (goal >= 0.5)")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
