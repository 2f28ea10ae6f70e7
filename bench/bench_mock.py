"""Benchmark: the mock's hot routes next to bare routes and an independent server, one run.

Covers: issue 13 item 6 (the mock is never the bottleneck). Every server runs in its own
process with the same server code (`loadtests.mockserver.serve`: uvicorn, the mock's
HTTP protocol and event loop) except the independent one, and all are measured with the
same generator, side by side in rounds, so that a ratio compares like with like on a
machine whose speed moves by a third from minute to minute:

- ``token``: the mock's ``POST /o/client/token`` (form parsing, cached client lookup,
  SHA-256 + constant-time compare, an ES256-signed JWT, JSON answer);
- ``api``: the mock's ``GET {api_prefix}/{sp}/configuration`` with a valid Bearer token
  and ``AP-Device-Identifier`` (header checks, the token memo, the client's standing);
- ``bare-asgi``: a raw ASGI callable answering a body of the token answer's exact size;
- ``bare-token`` / ``bare-api``: a bare Starlette route of the same server answering the
  very same request with a body of the token (API) answer's size: the "bare route" the
  goals are stated against (token ≥ 0.5×, API ≥ 0.7×);
- ``independent``: the token endpoint (``POST /oauth/token``, client_credentials,
  ``client_secret_post``) of the Authlib reference server
  (`tests/reference_server/server.py`, Flask) served as such an app is deployed: by
  Waitress, a production WSGI server (one process, 4 threads, like the mock's one
  process), with a client registered first (goal: token ≥ 2× its rate, 5× long-term).
  It is measured under the load shape that suits it best (`SHAPES`, tried first, each
  briefly), the others under CONNECTIONS × PIPELINE.

The load generator is pure Python: GENERATORS processes, each driving CONNECTIONS
keep-alive sockets with PIPELINE requests in flight on each through one `selectors` loop.
It sends pre-built request bytes and parses only the status line and Content-Length, so it
costs a few microseconds per request. On a 2-core machine the generator and the server
share the cores; the rates are therefore lower bounds, and each side's server CPU per
request (from /proc, warm-up included) is recorded too: it moves less with the load.

``--url http://127.0.0.1:PORT/PATH`` measures any other server on this machine with the
same generator (a GET, or a form POST with ``--url-form``); loopback only.

Run: ``python bench/bench_mock.py [--seconds 3] [--rounds 3] [--alg ES256] [--url URL]``
(or ``python -m bench mock``); writes ``bench/results/mock.json``: each side's rate per
round and min/median/max, and the ratios token/bare, api/bare, token/independent per
round and min/median/max.
"""

from __future__ import annotations

import argparse
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
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil

from dcrload.commandline.processes import reap

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "mock.json"
REFERENCE = REPO / "tests" / "reference_server" / "server.py"

SECONDS = 3.0  # measured seconds per side and round
WARMUP = 1.0  # seconds of load before measuring
ROUNDS = 3  # each side measured this many times, interleaved
GENERATORS = 2  # load-generator processes
CONNECTIONS = 16  # keep-alive connections per generator
PIPELINE = 4  # requests in flight per connection
SHAPES = [(1, 1), (4, 1), (CONNECTIONS, 1), (CONNECTIONS, PIPELINE)]
"""Load shapes (connections per generator, pipeline) tried on the independent server first.
Waitress's threads slow down as connections grow: on 2026-12-01 the reference server took
2.0 ms of CPU per token at one connection per generator and 9–13 ms at CONNECTIONS with
PIPELINE, so measuring it under the shape that suits the mock would flatter the mock."""
API_PATH = "/api/v2/bench-sp/configuration"
RATIOS = {  # name: (numerator side, denominator side)
    "token_to_bare": ("token", "bare-token"),
    "api_to_bare": ("api", "bare-api"),
    "token_to_independent": ("token", "independent"),
    "token_to_bare_asgi": ("token", "bare-asgi"),
}
GOALS = {"token_to_bare": 0.5, "api_to_bare": 0.7, "token_to_independent": 2.0}


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


def _payload(size: int) -> dict[str, str]:
    return {"x": "a" * max(0, size - 8)}  # compact JSON: {"x":"..."} is 8 bytes of framing


def _bare_starlette(token_size: int, api_size: int) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    token, api = _payload(token_size), _payload(api_size)

    async def token_route(request: Any) -> JSONResponse:
        await request.body()
        return JSONResponse(token, status_code=201)

    async def api_route(request: Any) -> JSONResponse:
        return JSONResponse(api)

    return Starlette(
        routes=[
            Route("/o/client/token", token_route, methods=["POST"]),
            Route("/api/v2/{sp}/configuration", api_route, methods=["GET"]),
        ]
    )


def serve_bare(kind: str, token_size: int, api_size: int) -> None:
    """Child process: serve a bare app on a free loopback port (prints the listening line)."""
    from loadtests.mockserver.serve import bind, serve

    body = json.dumps(_payload(token_size), separators=(",", ":")).encode()
    app = _bare_asgi(body) if kind == "bare-asgi" else _bare_starlette(token_size, api_size)
    serve(app, bind("127.0.0.1", 0))


class Server:
    """A server subprocess on a free loopback port; its output is drained to a list."""

    def __init__(self, args: list[str], listening: str) -> None:
        """Start it; `wait` for its listening line (servers start in parallel)."""
        self.args, self.listening = args, listening
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []
        self.url = ""

    def wait(self) -> Server:
        deadline = time.monotonic() + 30
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith(self.listening):
                self.url = line.split()[-1]
                break
        if not self.url:
            reap(self.process)
            raise RuntimeError(f"{self.args} did not start: {''.join(self.lines)[-2000:]}")
        # a full pipe would stall the server: keep reading what it prints
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        reap(self.process)


# --------------------------------------------------------------------------- load generator


def _generate(
    port: int,
    request: bytes,
    seconds: float,
    warmup: float,
    queue: Any,
    connections: int = CONNECTIONS,
    pipeline: int = PIPELINE,
) -> None:
    """One generator process: keep `pipeline` requests in flight on each connection."""
    selector = selectors.DefaultSelector()
    states = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        state = {"sock": sock, "buf": b""}
        states.append(state)
        selector.register(sock, selectors.EVENT_READ, state)
        sock.sendall(request * pipeline)
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


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def load(
    port: int,
    request: bytes,
    generators: int,
    seconds: float,
    warmup: float,
    pid: int | None,
    shape: tuple[int, int] = (CONNECTIONS, PIPELINE),
) -> dict[str, Any]:
    """Requests/s of one side, its statuses and the server's (`pid`) CPU µs per request;
    `shape`: (connections per generator, requests in flight on each)."""
    queue: Any = multiprocessing.Queue()
    args = (port, request, seconds, warmup, queue, *shape)
    workers = [multiprocessing.Process(target=_generate, args=args) for _ in range(generators)]
    cpu_before = _cpu_seconds(pid)
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + warmup + 60) for _ in workers]
    cpu = _cpu_seconds(pid) - cpu_before
    for worker in workers:
        worker.join(10)
    statuses: dict[str, int] = {}
    for _, by_status in results:
        for status, n in by_status.items():
            statuses[status] = statuses.get(status, 0) + n
    total = sum(counted for counted, _ in results)
    answered = sum(statuses.values())  # warm-up included, as the CPU time is
    return {
        "requests_per_second": round(total / seconds, 1),
        "server_cpu_us_per_request": (
            round(cpu / answered * 1e6, 1) if answered and pid is not None else None
        ),
        "statuses": statuses,
    }


# --------------------------------------------------------------------------- requests


def url_request(url: str, form: str | None) -> tuple[int, bytes]:
    """(port, request bytes) for `--url`: loopback only, a GET or a form POST."""
    parts = httpx.URL(url)
    if parts.host not in ("127.0.0.1", "localhost") or parts.scheme != "http" or not parts.port:
        raise SystemExit(f"--url {url}: expected http://127.0.0.1:PORT/PATH (loopback only)")
    target = parts.raw_path.decode() or "/"
    if form is None:
        return parts.port, _get(target, {})
    return parts.port, _form_post(target, form.encode(), {})


def _get(target: str, headers: dict[str, str]) -> bytes:
    lines = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", **headers}.items())
    return f"GET {target} HTTP/1.1\r\n{lines}\r\n".encode()


def _form_post(target: str, form: bytes, headers: dict[str, str]) -> bytes:
    every = {
        "Host": "127.0.0.1",
        "Content-Type": "application/x-www-form-urlencoded",
        **headers,
        "Content-Length": str(len(form)),
    }
    lines = "".join(f"{k}: {v}\r\n" for k, v in every.items())
    return f"POST {target} HTTP/1.1\r\n{lines}\r\n".encode() + form


def _form(client_id: str, secret: str) -> bytes:
    return f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode()


def mock_requests(mock: Server, tmp: str) -> tuple[dict[str, bytes], int, int]:
    """The token and API requests for the mock (a client registered, a token fetched),
    and the sizes of their answers' bodies."""
    statement = (Path(tmp) / "keys" / "dcrload-demo.jwt").read_text().strip()
    device = {"X-Device-Info": "YmVuY2g="}
    creds = httpx.post(
        mock.url + "/o/client/register", json={"software_statement": statement}, headers=device
    ).json()
    form = _form(creds["client_id"], creds["client_secret"])
    token = _form_post("/o/client/token", form, device)
    answer = httpx.post(
        mock.url + "/o/client/token",
        content=form,
        headers={**device, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 201, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    api_headers = {**bearer, "AP-Device-Identifier": "bench-device"}
    api = httpx.get(mock.url + API_PATH, headers=api_headers)
    assert api.status_code == 200, api.text
    return (
        {"token": token, "api": _get(API_PATH, api_headers)},
        len(answer.content),
        len(api.content),
    )


def independent_request(server: Server) -> bytes:
    """The reference server's token request, for a client registered there first."""
    metadata = {
        "client_name": "dcrload bench",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_post",
    }
    creds = httpx.post(server.url + "/oauth/register", json=metadata)
    assert creds.status_code == 201, creds.text
    form = _form(creds.json()["client_id"], creds.json()["client_secret"])
    answer = httpx.post(
        server.url + "/oauth/token",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200 and answer.json()["access_token"], answer.text
    return _form_post("/oauth/token", form, {})


def best_shape(
    server: Server, request: bytes, generators: int, seconds: float
) -> tuple[tuple[int, int], dict[str, Any]]:
    """The load shape (see `SHAPES`) under which `server` answers fastest, and its record
    with each shape's rate: the independent server is measured at its best, not at ours."""
    rates = {}
    for shape in SHAPES:
        measured = load(server.port, request, generators, seconds, seconds / 4, None, shape)
        rates[shape] = measured["requests_per_second"]
    best = max(SHAPES, key=lambda shape: rates[shape])
    return best, {
        "connections_per_generator": best[0],
        "pipeline": best[1],
        "tried": [{"connections": c, "pipeline": p, "requests_per_second": rates[c, p]}
                  for c, p in SHAPES],
    }  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="per side and round")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="measurements per side")
    parser.add_argument("--generators", type=int, default=GENERATORS)
    parser.add_argument("--warmup", type=float, default=WARMUP, help="seconds before measuring")
    parser.add_argument("--alg", default="ES256", choices=("ES256", "EdDSA", "RS256"))
    parser.add_argument(
        "--http",
        default="httptools",
        choices=("httptools", "h11"),
        help="the mock's parser (the bare servers stay on httptools)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--url", help="also measure this loopback URL with the same generator")
    parser.add_argument("--url-form", help="POST this form body to --url (default: GET)")
    parser.add_argument("--serve-bare", nargs=3, metavar=("KIND", "T", "A"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare[0], int(args.serve_bare[1]), int(args.serve_bare[2]))
        return 0
    if not 0 < args.seconds <= 60 or not 1 <= args.generators <= 16 or not 1 <= args.rounds <= 20:
        parser.error("--seconds must be in (0, 60], --generators in [1, 16], --rounds in [1, 20]")

    other = url_request(args.url, args.url_form) if args.url else None  # refused before any run
    sides: dict[str, tuple[Server, bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        mock = Server(
            ["-m", "loadtests.mockserver", "--port", "0", "--db", ":memory:", "--no-throttle",
             "--out", tmp, "--token-alg", args.alg, "--http", args.http],
            "dcrload mock listening on ",
        )  # fmt: skip
        servers.callback(mock.stop)
        reference = Server(
            [str(REFERENCE), "--port", "0", "--wsgi", "waitress"], "reference server listening on "
        )
        servers.callback(reference.stop)
        requests, token_size, api_size = mock_requests(mock.wait(), tmp)
        sides["token"], sides["api"] = (mock, requests["token"]), (mock, requests["api"])
        bare = {
            kind: Server(
                [str(Path(__file__)), "--serve-bare", kind, str(token_size), str(api_size)],
                "dcrload mock listening on ",
            )
            for kind in ("bare-asgi", "bare-starlette")
        }
        for server in bare.values():
            servers.callback(server.stop)
        asgi, starlette = bare["bare-asgi"].wait(), bare["bare-starlette"].wait()
        for server in (asgi, starlette):
            check = httpx.post(server.url + "/o/client/token", content=b"x")
            assert len(check.content) == token_size, (len(check.content), token_size)
        check = httpx.get(starlette.url + API_PATH)
        assert len(check.content) == api_size, (len(check.content), api_size)
        sides["bare-asgi"] = (asgi, requests["token"])
        sides["bare-token"] = (starlette, requests["token"])
        sides["bare-api"] = (starlette, requests["api"])
        sides["independent"] = (reference, independent_request(reference.wait()))
        shapes = {name: (CONNECTIONS, PIPELINE) for name in sides}
        shapes["independent"], independent_load = best_shape(
            reference, sides["independent"][1], args.generators, max(args.seconds / 3, 0.1)
        )

        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):  # interleaved: a slow minute slows every side alike
            measured = {
                name: load(server.port, request, args.generators, args.seconds, args.warmup,
                           server.process.pid, shapes[name])
                for name, (server, request) in sides.items()
            }  # fmt: skip
            if other is not None:  # not our process: its rate only
                measured["url"] = load(*other, args.generators, args.seconds, args.warmup, None)
            rounds.append(measured)

    targets: dict[str, Any] = {}
    for name in rounds[0]:
        rates = [r[name]["requests_per_second"] for r in rounds]
        cpus = [r[name]["server_cpu_us_per_request"] for r in rounds]
        targets[name] = {
            "requests_per_second": statistics.median(rates),
            "requests_per_second_spread": _spread(rates),
            "server_cpu_us_per_request": _spread([c for c in cpus if c is not None] or [0.0]),
            "statuses": [r[name]["statuses"] for r in rounds],
        }
    if other is not None:
        targets["url"]["url"] = args.url
    ratios: dict[str, Any] = {}
    for ratio, (top, bottom) in RATIOS.items():
        values = [
            round(r[top]["requests_per_second"] / r[bottom]["requests_per_second"], 3)
            for r in rounds
            if r[bottom]["requests_per_second"]
        ]
        ratios[ratio] = {"per_round": values, **_spread(values)} if values else None
    result: dict[str, Any] = {
        "benchmark": "mock hot routes vs bare routes and an independent server (same generator)",
        "token_alg": args.alg,
        "http": args.http,
        "body_bytes": {"token": token_size, "api": api_size},
        "seconds": args.seconds,
        "rounds": args.rounds,
        "generators": args.generators,
        "connections_per_generator": CONNECTIONS,
        "pipeline": PIPELINE,
        "independent_server": "tests/reference_server/server.py (Flask + Authlib) on Waitress",
        "independent_load": independent_load,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "targets": targets,
        "ratios": ratios,
        "goals": GOALS,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for ratio, spread in ratios.items():  # flat keys, as before (python -m bench's table)
        result[f"ratio_{ratio}"] = spread["median"] if spread else None
    if "url" in targets:
        url_rates = [r["url"]["requests_per_second"] for r in rounds]
        token_rates = [r["token"]["requests_per_second"] for r in rounds]
        values = [round(t / u, 3) for t, u in zip(token_rates, url_rates, strict=True) if u]
        result["ratio_token_to_url"] = statistics.median(values) if values else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, figure in targets.items():
        spread = figure["requests_per_second_spread"]
        cpu = figure["server_cpu_us_per_request"]
        print(
            f"{name:>12}: {spread['min']:>7.0f} / {spread['median']:>7.0f} / {spread['max']:>7.0f}"
            f" req/s   server CPU {cpu['median']:>6.0f} µs/request"
        )
    for ratio, spread in ratios.items():
        if spread:
            goal = f"  (goal >= {GOALS[ratio]})" if ratio in GOALS else ""
            print(f"{ratio:>22} = {spread['min']:.2f} / {spread['median']:.2f} / "
                  f"{spread['max']:.2f}{goal}")  # fmt: skip
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
