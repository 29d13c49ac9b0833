"""docs/deploy/ for real: nginx -> two gateway replicas sharing PostgreSQL -> mock providers.

What docs/deploy/README.md promises, shown on every run with the files in docs/deploy/
themselves: streams are not buffered, a client abort reaches the provider, keep-alive causes no
502, every replica's usage rows land in the one database, and a replica stopped with SIGTERM
under load loses neither a stream, nor a request, nor a row. The numbers each test measured are
printed (``pytest -s``) and quoted in the README.
"""

from __future__ import annotations

import random
import re
import signal
import socket
import statistics
import tomllib
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from gomodel.config import Config
from gomodel.testing import Reply
from tests.integration.stack import (
    AUTH,
    HYPERCORN_TOML,
    MASTER_KEY,
    NGINX_KEEPALIVE_LINE,
    Replica,
    Stack,
    deploy,
    nginx_directive,
    running_nginx,
    unit_environment,
    unit_settings,
)

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
HEX_ID = re.compile(r"[0-9a-f]{32}")  # nginx's $request_id


def _stream_body(chars: int) -> dict[str, Any]:
    """A streamed chat; the mock answers "Mock response to: <chars x>" in 5-character chunks,
    after a role chunk and before a finish and a usage chunk: (18 + chars) / 5 + 3 events."""
    return {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "x" * chars}],
        "stream": True,
    }


def _gaps(chars: int) -> int:
    """The pauses in the mock's stream for _stream_body(chars): its events less one. The
    provider ends the stream no sooner than received_at + _gaps(chars) * stream_gap."""
    return -(-(18 + chars) // 5) + 3 - 1


def _seconds(value: str) -> float:
    """An nginx time ("60s", "800ms", "10m") in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert match, value
    return int(match[1]) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[match[2]]


def _report(name: str, **numbers: object) -> None:
    print(f"\n[measured] {name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def _served_by(stack: Stack, request_id: str) -> Replica:
    """The replica whose provider received the request with this id."""
    [replica] = [
        r
        for r in stack.replicas
        if any(c.header("x-client-request-id") == request_id for c in r.chats())
    ]
    return replica


def test_documented_settings_agree() -> None:
    """The numbers that must match across nginx.conf, hypercorn.toml, the unit and the
    gateway's defaults do."""
    defaults = Config()
    toml = tomllib.loads(HYPERCORN_TOML.read_text())
    [keepalive] = nginx_directive("keepalive_timeout")
    assert f"keepalive_timeout {keepalive};" == NGINX_KEEPALIVE_LINE
    # nginx closes idle upstream connections before hypercorn would.
    assert _seconds(keepalive) < toml["keep_alive_timeout"] == defaults.keep_alive_timeout
    [requests] = nginx_directive("keepalive_requests")
    assert int(requests) < 1000  # hypercorn's keep_alive_max_requests
    assert toml["worker_class"] == "trio"
    assert toml["graceful_timeout"] == defaults.shutdown_grace_period
    # The body limit is the gateway's, and the gateway's own timeouts fire before nginx's.
    assert nginx_directive("client_max_body_size") == ["10m"]
    assert defaults.body_size_limit == 10 * 1024 * 1024
    [read_timeout] = nginx_directive("proxy_read_timeout")
    assert _seconds(read_timeout) > defaults.http_timeout
    assert _seconds(read_timeout) > defaults.http_response_header_timeout
    # Streaming and aborts.
    assert nginx_directive("proxy_buffering") == ["off"]
    assert nginx_directive("proxy_http_version") == ["1.1"]
    assert 'Connection ""' in nginx_directive("proxy_set_header")
    assert "X-Request-ID $req_id" in nginx_directive("proxy_set_header")
    assert nginx_directive("proxy_ignore_client_abort") in ([], ["off"])
    assert nginx_directive("gzip") in ([], ["off"])
    assert all("non_idempotent" not in v for v in nginx_directive("proxy_next_upstream"))
    # systemd waits for the grace period and the usage flush before it kills.
    unit = unit_settings()
    grace = float(unit_environment()["SHUTDOWN_GRACE_PERIOD"])
    assert grace == defaults.shutdown_grace_period
    assert unit["KillSignal"] == ["SIGTERM"]
    assert float(unit["TimeoutStopSec"][0]) >= grace + 10
    assert unit["Restart"] == ["on-failure"]
    assert unit_environment()["TRUSTED_PROXY_HOPS"] == "1"


async def _timed_stream(
    client: httpx.AsyncClient, stack: Stack, gap: float
) -> tuple[list[float], list[float]]:
    """One stream through nginx: when each event arrived, and for each the earliest time the
    provider can have emitted it (event k no earlier than received_at + k * gap: the mock's
    sleeps only overrun; it runs in this process, so its clock is the client's)."""
    body = {**_stream_body(1), "stream_options": {"include_usage": True}}  # 7 events
    arrivals = []
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                arrivals.append(trio.current_time())
        request_id = response.headers["x-request-id"]
    [request] = [c for c in stack.chats() if c.header("x-client-request-id") == request_id]
    assert len(arrivals) == 7
    return arrivals, [request.received_at + k * gap for k in range(len(arrivals) + 1)]


async def _two_streams(url: str, stack: Stack, gap: float) -> list[tuple[list[float], list[float]]]:
    """Two streams at once (both replicas, as a rule) through the nginx at ``url``."""
    timed = []
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client:

        async def one() -> None:
            timed.append(await _timed_stream(client, stack, gap))

        with trio.fail_after(20):
            async with trio.open_nursery() as streams:
                streams.start_soon(one)
                streams.start_soon(one)
    return timed


# nginx configs for the stream test: (name, replacements in nginx.conf, events one by one?)
BUFFERING = [
    ("gzip off;", "gzip on; gzip_types text/event-stream;"),
    ("proxy_buffering off;", "proxy_buffering on;"),
]
IGNORE_HEADER = ("proxy_cache off;", "proxy_cache off; proxy_ignore_headers X-Accel-Buffering;")
STREAM_CONFIGS = [
    ("documented", [], True),
    # Misconfigured: the gateway's "X-Accel-Buffering: no" turns nginx's buffering off.
    ("proxy_buffering on + gzip", BUFFERING, True),
    # The same, told to ignore that header: events are held back, and this test sees it.
    ("proxy_buffering on + gzip, X-Accel-Buffering ignored", [*BUFFERING, IGNORE_HEADER], False),
]


async def test_stream_events_arrive_one_by_one(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Through nginx each SSE event reaches the client before the provider emits the next (two
    streams at once), also with proxy_buffering and gzip on by mistake; with nginx made to
    ignore the gateway's X-Accel-Buffering: no as well, the events are held back."""
    gap = 0.2
    # The role chunk is not held for its first content: every event is measured.
    env = {"FAILOVER_HOLD_PRELUDE": "false"}
    async with deploy(tmp_path, nursery, stream_gap=gap, env=env) as stack:
        ports = [r.port for r in stack.replicas]
        for i, (name, changes, one_by_one) in enumerate(STREAM_CONFIGS):
            async with running_nginx(tmp_path / f"nginx-{i}", ports, extra=changes) as nginx:
                timed = await _two_streams(nginx.url, stack, gap)
            # Each event arrived before the provider emitted the next one.
            held = [
                a
                for arrivals, emitted in timed
                for k, a in enumerate(arrivals)
                if a >= emitted[k + 1]
            ]
            assert (not held) == one_by_one, (name, timed)
            lags = sorted(a - e[k] for arrivals, e in timed for k, a in enumerate(arrivals))
            gaps = sorted(b - a for arrivals, _ in timed for a, b in pairwise(arrivals))
            _report(
                f"SSE through nginx ({name}), provider gap {gap}s",
                events=len(lags),
                held_back=len(held),
                arrival_gap_min_ms=round(1000 * gaps[0], 1),
                arrival_gap_max_ms=round(1000 * gaps[-1], 1),
                lag_p50_ms=round(1000 * statistics.median(lags), 1),
                lag_max_ms=round(1000 * lags[-1], 1),
            )


async def _open_stream(port: int, request_id: str) -> trio.SocketStream:
    """A streamed chat on a raw connection to nginx, once the first event has arrived."""
    body = orjson.dumps(_stream_body(250))  # 57 events, 0.2 s apart: 11 s to its end
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: gomodel\r\n"
        f"Authorization: Bearer {MASTER_KEY}\r\nContent-Type: application/json\r\n"
        f"X-Request-ID: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(head.encode() + body)
        received = b""
        while b"\r\n\r\n" not in received or b"data: " not in received:
            data = await stream.receive_some()
            assert data, received
            received += data
        assert received.startswith(b"HTTP/1.1 200 "), received
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream


async def test_client_abort_closes_provider_connection(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A client that closes its connection to nginx mid-stream gets the provider's connection
    closed within milliseconds, not at the stream's end 11 s later; 20 times, both replicas."""
    async with deploy(tmp_path, nursery, stream_gap=0.2) as stack:
        latencies = []
        with trio.fail_after(60):
            for i in range(20):
                async with await _open_stream(stack.nginx.port, f"abort-{i}") as stream:
                    replica = _served_by(stack, f"abort-{i}")
                    [request] = [
                        c
                        for c in replica.chats()
                        if c.header("x-client-request-id") == f"abort-{i}"
                    ]
                    aborted_at = trio.current_time()
                    await stream.aclose()
                closed_at = await replica.mock.wait_closed(request.connection_id)
                assert replica.mock.connections[request.connection_id].closed_by == "client"
                # Caused by the abort: after it, and before the provider would have ended the
                # stream by itself (the mock runs in this process: one clock). No wall-clock
                # bound: the margin is the stream's own length, 11 s.
                natural_end = request.received_at + _gaps(250) * 0.2
                assert aborted_at <= closed_at < natural_end
                latencies.append(closed_at - aborted_at)
        assert {_served_by(stack, f"abort-{i}").kind for i in range(20)} == {"unit", "hypercorn"}
        rows = await stack.wait_usage_rows(20)
        assert {(termination, complete) for _, termination, complete, _ in rows} == {
            ("client_disconnect", False)
        }
    latencies.sort()
    _report(
        "client abort -> provider connection closed, through nginx",
        aborts=len(latencies),
        p50_ms=round(1000 * statistics.median(latencies), 1),
        p99_ms=round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        max_ms=round(1000 * latencies[-1], 1),
    )


def _time_wait(ports: set[int]) -> set[tuple[str, str]]:
    """Loopback TCP connections in TIME_WAIT that involve ``ports``, as (local, remote)
    "host:port" hex pairs. TIME_WAIT stays with the side that closed first (for 60 s)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, remote, state = line.split()[1:4]
            if state == "06" and {int(local[-4:], 16), int(remote[-4:], 16)} & ports:
                found.add((local, remote))
    return found


def _closed_first_by(pairs: set[tuple[str, str]], ports: set[int]) -> Counter[str]:
    """Of these TIME_WAIT connections, how many the replicas (listening on ``ports``) closed
    first, and how many their clients (nginx) did."""
    return Counter("replica" if int(local[-4:], 16) in ports else "nginx" for local, _ in pairs)


async def _idle_close_after(replica: Replica) -> tuple[float, str]:
    """How long the replica keeps an idle connection after a response (at most 5 s); and that
    connection's local address in /proc's notation, to leave it out of the counts."""
    stream = await trio.open_tcp_stream("127.0.0.1", replica.port)
    async with stream:
        host, port = stream.socket.getsockname()[:2]
        await stream.send_all(b"GET /health HTTP/1.1\r\nHost: r\r\n\r\n")
        received = b""
        while not received.endswith(b'{"status":"ok"}'):
            received += await stream.receive_some()
        start = trio.current_time()
        with trio.move_on_after(5):
            while await stream.receive_some():
                pass
        address = "".join(f"{int(b):02X}" for b in reversed(host.split(".")))
        return trio.current_time() - start, f"{address}:{port:04X}"


# The documented keep-alive timeouts, scaled down so that an idle period takes a fraction of a
# second: by 1/300 on a quiet machine (nginx 60 s -> 200 ms, the gateway 75 s -> 250 ms;
# inverted: nginx 312 ms), by more when the machine is slow to run timers (_keep_alive_scale).
KEEP_ALIVE_SCALE = 1 / 300
KEEP_ALIVE_SCALE_MAX = 1 / 60  # nginx 1 s, the gateway 1.25 s: five times the test's duration


async def _timer_lateness() -> float:
    """How late a short timer fires on this machine right now: the largest of 30 overshoots of a
    20 ms sleep (this process shares the cores with nginx and the replicas)."""
    late = 0.0
    for _ in range(30):
        start = trio.current_time()
        await trio.sleep(0.02)
        late = max(late, trio.current_time() - start - 0.02)
    return late


def _keep_alive_scale(lateness: float) -> float:
    """The scale that leaves nginx's idle close ten timer latenesses (at least 50 ms) ahead of
    the gateway's: the documented gap is 75 s - 60 s = 15 s."""
    return min(max(KEEP_ALIVE_SCALE, 10 * lateness / 15.0), KEEP_ALIVE_SCALE_MAX)


@pytest.mark.parametrize(("relation", "total"), [("documented", 1000), ("inverted", 300)])
async def test_keep_alive_race_gives_no_502(
    nursery: trio.Nursery, tmp_path: Path, relation: str, total: int
) -> None:
    """POSTs in bursts separated by pauses around both keep-alive timeouts, scaled down together
    (nginx 60 s < gateway 75 s becomes 200 ms < 250 ms): no 502, and every idle connection is
    closed by nginx, never by the gateway. Inverted (nginx 312 ms) the gateway closes idle
    connections under nginx, which is what turns into 502s: this test would see it. The scale
    is derived from how late timers fire on the machine at the start (see _keep_alive_scale):
    on a loaded machine a 50 ms gap between the two timeouts is not a gap."""
    gateway_timeout = tomllib.loads(HYPERCORN_TOML.read_text())["keep_alive_timeout"]
    [nginx_timeout] = nginx_directive("keepalive_timeout")
    lateness = await _timer_lateness()
    scale = _keep_alive_scale(lateness)
    gateway_s = gateway_timeout * scale
    nginx_s = _seconds(nginx_timeout) * scale
    if relation == "inverted":
        nginx_s = gateway_s * gateway_s / nginx_s
    nginx_ms = round(1000 * nginx_s)
    async with deploy(
        tmp_path,
        nursery,
        keep_alive=gateway_s,
        nginx_keepalive_timeout=f"{nginx_ms}ms",
        kinds=("unit", "unit"),  # hypercorn's own command line takes whole seconds only
    ) as stack:
        ports = {r.port for r in stack.replicas}
        before = _time_wait(ports)
        statuses: Counter[int] = Counter()
        rng = random.Random(8)
        idle: list[tuple[float, str]] = []
        sent = 0

        async def post(client: httpx.AsyncClient) -> None:
            response = await client.post("/v1/chat/completions", json=CHAT)
            statuses[response.status_code] += 1

        async def probe(replica: Replica) -> None:
            idle.append(await _idle_close_after(replica))

        limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
        with trio.fail_after(90):
            async with stack.client(limits=limits) as client:
                async with trio.open_nursery() as probes:
                    for replica in stack.replicas:
                        probes.start_soon(probe, replica)
                while sent < total:
                    # A burst: nginx reuses as many idle connections as it needs and opens more
                    # when they run out, so connections idle across one pause or several.
                    burst = min(rng.randint(5, 40), total - sent)
                    async with trio.open_nursery() as requests:
                        for _ in range(burst):
                            requests.start_soon(post, client)
                    sent += burst
                    # Half the pauses around both timeouts, half shorter.
                    low, high = (0.6, 1.4) if rng.random() < 0.5 else (0.0, 0.5)
                    await trio.sleep(gateway_s * rng.uniform(low, high))
        probed = {address for _, address in idle}
        closes = {(lo, re_) for lo, re_ in _time_wait(ports) - before if not {lo, re_} & probed}
        by = _closed_first_by(closes, ports)
        bad_gateway = [line for line in stack.nginx.access_log() if '" 502 ' in line]
        upstream_errors = [line for line in stack.nginx.error_log() if "[error]" in line]
    _report(
        f"keep-alive, {relation}: nginx {nginx_ms} ms vs gateway {round(1000 * gateway_s)} ms",
        timer_lateness_ms=round(1000 * lateness, 1),
        requests=sum(statuses.values()),
        statuses=dict(statuses),
        nginx_502=len(bad_gateway),
        idle_closed_first_by=dict(by),
        gateway_idle_close_ms=[round(1000 * t) for t, _ in idle],
    )
    assert sum(statuses.values()) == total
    # The replicas really run with the scaled keep-alive timeout: they close an idle connection
    # no sooner than it says, and long before the 75 s they would without it (the probe waits
    # 5 s at most).
    assert all(gateway_s * 0.9 < t < 5 for t, _ in idle), (
        f"the replicas do not close idle connections after KEEP_ALIVE_TIMEOUT={gateway_s}: {idle}"
    )
    if relation == "documented":
        assert statuses == {200: total}
        assert not bad_gateway and not upstream_errors, upstream_errors[:5]
        assert by["nginx"] > 0  # idle connections did expire, at nginx
        assert by["replica"] == 0
    else:
        assert by["replica"] > 0


async def test_usage_rows_from_both_replicas_in_one_database(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Requests nginx spreads over both replicas leave one row each in the shared PostgreSQL,
    under the request id nginx forwarded and with the client's address from X-Forwarded-For
    (not the proxy's, not the one the client made up)."""
    # One attempt per request: the provider's 503 below is the answer, not retried.
    async with deploy(tmp_path, nursery, env={"RETRY_MAX_RETRIES": "0"}) as stack:
        ids = []
        # The client connects from 127.0.0.2: nginx is 127.0.0.1, so the three differ.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with stack.client(transport=transport) as client:
            for i in range(24):
                headers = {"x-forwarded-for": "203.0.113.7"}
                if i % 3 == 0:
                    headers["x-request-id"] = f"client-id-{i}"
                elif i % 3 == 1:
                    headers["x-request-id"] = "not a well formed id"  # nginx replaces it
                body = {**CHAT, "stream": i % 2 == 1}
                response = await client.post("/v1/chat/completions", json=body, headers=headers)
                assert response.status_code == 200, response.text
                ids.append(response.headers["x-request-id"])
        for i, request_id in enumerate(ids):  # the client's own id if well formed, else nginx's
            if i % 3 == 0:
                assert request_id == f"client-id-{i}"
            else:
                assert HEX_ID.fullmatch(request_id), request_id
        assert all(r.chats() for r in stack.replicas), "nginx used one replica only"
        upstream_ids = [c.header("x-client-request-id") for c in stack.chats()]
        rows = await stack.wait_usage_rows(24)
        assert sorted(row[0] for row in rows) == sorted(ids) == sorted(upstream_ids)
        assert {row[3] for row in rows} == {"127.0.0.2"}
        logged = [re.search(r" rid=(\S+) ", line) for line in stack.nginx.access_log()]
        assert set(ids) <= {m[1] for m in logged if m}
        # The gateway's own 5xx (here a provider's 503) reach the client as the gateway wrote
        # them: nginx's JSON pages are for nginx's own errors only.
        for replica in stack.replicas:
            replica.mock.script(Reply.error(503, "overloaded", code="overloaded"))
        failed: list[httpx.Response] = []
        async with stack.client() as client:
            for _ in range(6):  # until each replica has met its provider's 503
                response = await client.post("/v1/chat/completions", json=CHAT)
                if response.status_code != 200:
                    failed.append(response)
                if len(failed) == 2:
                    break
        assert [r.status_code for r in failed] == [503, 503]
        assert [r.json()["error"]["message"] for r in failed] == ["openai: overloaded"] * 2
        rows = await stack.wait_usage_rows(len(stack.chats()))  # failed requests leave rows too
        assert len(rows) == 26
    _report(
        "usage rows in the shared PostgreSQL",
        rows=len(rows),
        per_replica={r.kind: len(r.chats()) for r in stack.replicas},
    )


async def _watched_stream(client: httpx.AsyncClient, chars: int, outcomes: dict[str, str]) -> None:
    """A stream through nginx; records how it ended: "done" ([DONE]), "shutdown" (the
    server_shutdown error event, then the connection may be cut), or what went wrong."""
    outcome, request_id = "cut", f"no response {id(outcomes)}-{len(outcomes)}"
    try:
        async with client.stream("POST", "/v1/chat/completions", json=_stream_body(chars)) as r:
            assert r.status_code == 200
            request_id = r.headers["x-request-id"]
            async for line in r.aiter_lines():
                if line == "data: [DONE]":
                    outcome = "done"
                elif line.startswith("data: ") and '"server_shutdown"' in line:
                    outcome = "shutdown"
                elif line.startswith("data: ") and '"error"' in line:
                    outcome = f"error event: {line}"
    except httpx.TransportError as exc:
        if outcome != "shutdown":
            outcome = f"{outcome}: {exc!r}"
    outcomes[request_id] = outcome


LONG = 290  # characters: 65 events, 0.1 s apart


async def test_sigterm_replica_under_streaming_load(nursery: trio.Nursery, tmp_path: Path) -> None:
    """SIGTERM to one replica with 20 streams in flight: its short streams finish, its long
    ones end with the server_shutdown event at the grace period, it exits 0 with every usage
    row written, and every request sent meanwhile is served by the other replica.

    The grace period is scaled down from 30 s; no assertion is a wall-clock bound. Short streams
    (0.6 s) have the 2.5 s grace to finish; long ones (6.4 s) must be cut at the grace period,
    so their provider connections close after it and before the provider would have ended them,
    and the replica exits in between: ordering, with seconds of margin either side."""
    grace = 2.5
    async with deploy(
        tmp_path, nursery, stream_gap=0.1, env={"SHUTDOWN_GRACE_PERIOD": str(grace)}
    ) as stack:
        stopping, other = stack.replicas  # stopping: gomodel serve, as gomodel@.service runs it
        outcomes: dict[str, str] = {}
        lengths = {}  # request id -> "short" (7 events, 0.6 s) or "long" (65 events, 6.4 s)
        new_statuses: Counter[int] = Counter()
        exited = trio.Event()

        async def new_requests(client: httpx.AsyncClient) -> None:
            while not exited.is_set():
                # A request nginx sent to a connection the stopping replica no longer serves
                # would hang: a short timeout makes that a failure of its own.
                response = await client.post("/v1/chat/completions", json=CHAT, timeout=5)
                new_statuses[response.status_code] += 1

        with trio.fail_after(20):
            async with stack.client() as client, trio.open_nursery() as load:
                for i in range(20):
                    load.start_soon(_watched_stream, client, 2 if i % 2 else LONG, outcomes)
                while len(stack.chats()) < 20:  # noqa: ASYNC110 (the mocks' lists)
                    await trio.sleep(0.01)
                for request in stack.chats():
                    chars = len(request.json["messages"][0]["content"])
                    lengths[request.header("x-client-request-id")] = (
                        "long" if chars > 2 else "short"
                    )
                other_in_flight = len(other.chats())
                stopped_at = trio.current_time()
                stopping.process.send_signal(signal.SIGTERM)
                # New requests once the short streams are over: nginx has put their connections
                # back in its pool, and must not send a request on one of those to the stopping
                # replica (if that replica left them open, the request would hang, then 502).
                while len([o for o in outcomes.values() if o == "done"]) < 10:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                for _ in range(4):
                    load.start_soon(new_requests, client)
                code = await stopping.process.wait()
                exit_seconds = trio.current_time() - stopped_at
                exited.set()
        assert code == 0, stopping.log.read_text()[-3000:]
        late = [c for c in stopping.chats() if c.received_at > stopped_at]
        assert not late, "nginx sent new requests to the stopping replica"
        assert set(new_statuses) == {200} and new_statuses[200] >= 20, new_statuses
        assert len(other.chats()) == other_in_flight + new_statuses[200]
        # The stopping replica's streams: short ones finished, long ones got server_shutdown.
        on_stopping = {c.header("x-client-request-id") for c in stopping.chats()}
        expected = {
            rid: ("done" if lengths[rid] == "short" or rid not in on_stopping else "shutdown")
            for rid in lengths
        }
        assert outcomes == expected
        assert {lengths[rid] for rid in on_stopping} == {"short", "long"}
        # The long streams' provider connections were closed by the shutdown: not before the
        # grace period ended, and before the provider would have ended them by itself.
        long_ones = [
            c for c in stopping.chats() if lengths[c.header("x-client-request-id")] == "long"
        ]
        natural_end = min(c.received_at for c in long_ones) + _gaps(LONG) * 0.1
        assert all(c.closed_at is not None for c in stopping.mock.connections)
        for request in long_ones:
            closed_at = stopping.mock.connections[request.connection_id].closed_at
            assert closed_at is not None and stopped_at + grace <= closed_at < natural_end
        assert grace <= exit_seconds < natural_end - stopped_at
        # No row lost: one per provider request, the cut streams marked as such.
        rows = await stack.wait_usage_rows(len(stack.chats()))
        upstream_ids = sorted(c.header("x-client-request-id") for c in stack.chats())
        assert sorted(row[0] for row in rows) == upstream_ids
        cut = {row[0]: (row[1], row[2]) for row in rows if expected.get(row[0]) == "shutdown"}
        assert set(cut.values()) == {("shutdown", False)}
    _report(
        "SIGTERM under streaming load",
        streams_on_stopping_replica=len(on_stopping),
        finished=sum(1 for r in on_stopping if outcomes[r] == "done"),
        server_shutdown=len(cut),
        new_requests=dict(new_statuses),
        exit_after_s=round(exit_seconds, 2),
        rows=len(rows),
    )


async def _announce_too_large(port: int) -> httpx.Response:
    """A request whose Content-Length is over client_max_body_size, without its body: nginx
    answers from the head alone. (Uploading the 10 MiB as well made the answer race the upload
    against nginx's early reply and lingering close: seen as a 502 on a loaded machine.)"""
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gomodel\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (10 * 1024 * 1024 + 1)
    )
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(head)
        received = b""
        while True:  # the whole answer (nginx then waits for the body it will discard)
            head_bytes, end, body = received.partition(b"\r\n\r\n")
            if end:
                status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
                headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
                length = int({k.lower(): v for k, v in headers}["content-length"])
                if len(body) >= length:
                    return httpx.Response(
                        int(status_line.split()[1]), headers=headers, content=body
                    )
            data = await stream.receive_some()
            assert data, received
            received += data


async def test_nginx_own_errors_are_json(tmp_path: Path) -> None:
    """nginx's own 413 (a body over client_max_body_size) and 502 (no replica up) come in the
    OpenAI error envelope, with the request id."""
    # The replicas' ports are held, bound and never listening, for the whole test: a port
    # merely found free could be taken meanwhile by another process on a busy machine, which
    # would then answer in place of the 502.
    with socket.socket() as one, socket.socket() as two:
        for held in (one, two):
            held.bind(("127.0.0.1", 0))
        ports = [int(held.getsockname()[1]) for held in (one, two)]
        await _own_errors(tmp_path, ports)


async def _own_errors(tmp_path: Path, ports: list[int]) -> None:
    async with (
        running_nginx(tmp_path / "nginx", ports) as nginx,
        httpx.AsyncClient(base_url=nginx.url, timeout=30) as client,
    ):
        with trio.fail_after(30):
            too_large = await _announce_too_large(nginx.port)
        down = await client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "r1"})
    for response, status, code in ((too_large, 413, "body_too_large"), (down, 502, "bad_gateway")):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == code
    assert too_large.json()["error"]["type"] == "invalid_request_error"
    assert HEX_ID.fullmatch(too_large.headers["x-request-id"])
    assert down.headers["x-request-id"] == "r1"
    statuses = [line.split('" ', 1)[1].split()[0] for line in nginx.access_log()]
    assert statuses == ["413", "502"]
