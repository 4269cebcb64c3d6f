"""API under bounded load on loopback: mixed bbox queries and field-report submissions.

The server is ``ceasewatch serve``'s app (uvicorn, one process) in a subprocess on
127.0.0.1, on a copy of the demo store. The load is open-loop: request *i* is due at
``t0 + i / rate`` whether or not earlier ones have returned, and its latency counts from
that scheduled time (so a stalled server cannot hide its backlog). The load is sent by
threads over keep-alive connections with the standard library's ``http.client``: measured
here, httpx's clients (async and sync) needed more CPU per request than the server and
saturated first, which would have measured the client, not the API. httpx only polls
readiness.

Mix (:data:`MIX`): 90 % bbox GETs (violations 35 %, incidents 30 %, events 25 %; boxes of
0.3-1.5° along the front, a time window on half of them), 10 % field-report POSTs (1-3
observations each, every one a new batch with its audit entry).
Baseline, same run, same rate: ``GET /api/health`` (no store, no auth).
Last line: throughput, p50/p99, errors and the p99 ratio to the baseline.

    python benchmarks/bench_api.py                  # 200 req/s for 60 s
    python benchmarks/bench_api.py --seconds 10     # quick
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ceasewatch.demo import run_demo
from ceasewatch.store import auth
from ceasewatch.store.duckdb import open_store

# the demo scenario's front: (lon, lat) box the queries fall in
FRONT = (34.5, 46.4, 38.6, 50.3)
DAYS = [f"2025-09-{d:02d}" for d in range(1, 31)]
#: share of each request kind in the mixed load (cumulative order as listed)
MIX = {"GET violations": 0.35, "GET incidents": 0.30, "GET events": 0.25, "POST field-report": 0.10}


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)


def prepare_store(folder: Path, store: str | None) -> tuple[Path, dict[str, str]]:
    path = folder / "bench.duckdb"
    if store:
        shutil.copy(store, path)
    else:
        run_demo(folder / "demo", store=str(path), echo=lambda _s: None)
    st = open_store(path)
    try:
        tokens = {}
        for role in ("observer", "monitor"):
            name = f"bench-{role}"
            auth.add_user(st, name, role, actor="bench")
            tokens[role] = auth.issue_token(st, name, actor="bench").token
    finally:
        st.close()
    return path, tokens


def start_server(store: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CEASEWATCH_STORE": str(store)}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "ceasewatch.serve.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"the server exited with {proc.returncode}"
            raise RuntimeError(msg)
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process ``pid`` and its threads, and of its live
    child processes (the service's validation workers) with theirs (Linux /proc)."""
    fields = _stat(pid)
    if fields is None:
        return float("nan")
    total = int(fields[11]) + int(fields[12])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pid:
            child = _stat(int(entry.name))
            if child is not None and int(child[1]) == pid:  # field 4: the parent's pid
                total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_request(
    rng: random.Random, i: int, tokens: dict[str, str]
) -> tuple[str, str, str, Any, dict[str, str]]:
    """(kind, method, url, json body, headers) of the i-th request of the mix."""
    r = rng.random()
    obs_h = {"Authorization": f"Bearer {tokens['observer']}"}
    v_cut = MIX["GET violations"]
    i_cut = v_cut + MIX["GET incidents"]
    e_cut = i_cut + MIX["GET events"]
    if r < e_cut:
        size = rng.uniform(0.3, 1.5)
        x0 = rng.uniform(FRONT[0], FRONT[2] - size)
        y0 = rng.uniform(FRONT[1], FRONT[3] - size)
        q = f"bbox={x0:.3f},{y0:.3f},{x0 + size:.3f},{y0 + size:.3f}&limit=200"
        if rng.random() < 0.5:
            day = rng.choice(DAYS)
            q += f"&since={day}T00:00:00Z&until=2025-10-06T00:00:00Z"
        kind = "violations" if r < v_cut else "incidents" if r < i_cut else "events"
        return f"GET {kind}", "GET", f"/api/{kind}?{q}", None, obs_h
    n = rng.randint(1, 3)
    lon = rng.uniform(35.5, 38.0)
    lat = rng.uniform(47.0, 49.5)
    day = rng.choice(DAYS)
    observations = [
        {
            "report_id": f"BENCH-{i}",
            "observation_id": str(k + 1),
            "observer_id": f"T{rng.randint(1, 20):02d}",
            "observer_lon": round(lon, 4),
            "observer_lat": round(lat, 4),
            "window_start": f"{day}T{rng.randint(0, 22):02d}:{rng.randint(0, 59):02d}:00Z",
            "kind": rng.choice(["explosion", "burst", "flash", "projectile"]),
            "count": rng.randint(1, 30),
            "bearing_deg": rng.randint(0, 359),
            "distance_min_km": 2,
            "distance_max_km": 6,
        }
        for k in range(n)
    ]
    return (
        "POST field-report",
        "POST",
        "/api/field-reports",
        {"observations": observations},
        {"Authorization": f"Bearer {tokens['monitor']}"},
    )


def run_load(
    host: str,
    port: int,
    rate: float,
    seconds: float,
    requests: list[tuple[str, str, str, Any, dict[str, str]]],
    *,
    connections: int = 64,
) -> tuple[Results, float]:
    """Send ``rate * seconds`` requests on schedule over ``connections`` keep-alive
    connections; each latency counts from the request's scheduled time."""
    res = Results()
    lock = threading.Lock()
    todo: queue.Queue[tuple[float, tuple[str, str, str, Any, dict[str, str]]] | None] = (
        queue.Queue()
    )

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while True:
            item = todo.get()
            if item is None:
                conn.close()
                return
            at, (kind, method, url, body, headers) = item
            ok = False
            sample = ""
            try:
                data = json.dumps(body).encode() if body is not None else None
                hdrs = {**headers, "Content-Type": "application/json"} if data else headers
                conn.request(method, url, body=data, headers=hdrs)
                r = conn.getresponse()
                text = r.read()
                ok = r.status < 300
                if not ok:
                    sample = f"{kind} {r.status} {text[:200]!r}"
            except (OSError, http.client.HTTPException) as e:
                sample = f"{kind} {type(e).__name__}: {e}"
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            took = time.perf_counter() - at
            with lock:
                res.latencies[kind].append(took)
                if not ok:
                    res.errors[kind] += 1
                    if len(res.error_samples) < 5:
                        res.error_samples.append(sample)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    n = int(rate * seconds)
    t0 = time.perf_counter() + 0.1
    for i in range(n):
        at = t0 + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        todo.put((at, requests[i % len(requests)]))
    for _ in threads:
        todo.put(None)
    for t in threads:
        t.join()
    return res, time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


def report(name: str, res: Results) -> tuple[list[float], int]:
    every: list[float] = []
    errors = 0
    for kind in sorted(res.latencies):
        lat = res.latencies[kind]
        every += lat
        errors += res.errors[kind]
        print(
            f"  {name:<9} {kind:<18} n={len(lat):>6} p50={pct(lat, 50):7.1f} ms "
            f"p90={pct(lat, 90):7.1f} ms p99={pct(lat, 99):7.1f} ms max={pct(lat, 100):7.1f} ms "
            f"errors={res.errors[kind]}"
        )
    for s in res.error_samples:
        print(f"  error sample: {s}")
    return every, errors


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of the mixed load")
    ap.add_argument("--store", help="a store to copy instead of building the demo one")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--post-share",
        type=float,
        default=MIX["POST field-report"],
        help="share of field-report POSTs (the GETs keep their proportions)",
    )
    args = ap.parse_args()
    if args.rate <= 0 or args.rate > 2_000 or args.seconds <= 0 or args.seconds > 600:
        ap.error("bounded load: --rate in (0, 2000], --seconds in (0, 600]")
    if not 0.0 <= args.post_share <= 1.0:
        ap.error("--post-share must be in [0, 1]")
    gets = 1.0 - MIX["POST field-report"]
    for k in ("GET violations", "GET incidents", "GET events"):
        MIX[k] = MIX[k] / gets * (1.0 - args.post_share)
    MIX["POST field-report"] = args.post_share

    with tempfile.TemporaryDirectory(prefix="cw-bench-api-") as tmp:
        folder = Path(tmp)
        store, tokens = prepare_store(folder, args.store)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(store, port, folder / "server.log")
        try:
            wait_ready(base, proc)
            rng = random.Random(args.seed)
            n = int(args.rate * args.seconds)
            mixed = [make_request(rng, i, tokens) for i in range(n)]
            # warm-up, not measured: the mix at the full rate for a few seconds (first
            # connections, worker threads and processes, caches of first answers)
            warm_s = min(5.0, max(1.0, args.seconds / 10))
            warm = [make_request(rng, n + i, tokens) for i in range(int(args.rate * warm_s))]
            run_load("127.0.0.1", port, args.rate, warm_s, warm)
            base_s = max(5.0, args.seconds / 4)
            health: list[tuple[str, str, str, Any, dict[str, str]]] = [
                ("GET health", "GET", "/api/health", None, {})
            ]
            c0 = cpu_seconds(proc.pid)
            b_res, _ = run_load("127.0.0.1", port, args.rate, base_s, health)
            c1 = cpu_seconds(proc.pid)
            m_res, m_elapsed = run_load("127.0.0.1", port, args.rate, args.seconds, mixed)
            c2 = cpu_seconds(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(f"loopback, open loop at {args.rate:g} req/s; latency from the scheduled send time")
        print("mix: " + ", ".join(f"{k} {v:.0%}" for k, v in MIX.items()))
        b_all, b_err = report("baseline", b_res)
        m_all, m_err = report("mixed", m_res)
        b_cpu = (c1 - c0) * 1000.0 / max(len(b_all), 1)
        m_cpu = (c2 - c1) * 1000.0 / max(len(m_all), 1)
        # what each request costs the server, whatever else the machine runs meanwhile
        print(f"server CPU per request: baseline {b_cpu:.2f} ms, mixed {m_cpu:.2f} ms")
        p50, p99 = pct(m_all, 50), pct(m_all, 99)
        b99 = pct(b_all, 99)
        mix_text = "/".join(f"{v:.0%}" for v in MIX.values())
        verdict = "meets" if p99 < 100.0 and m_err == 0 else "misses"
        print(f"target p99 < 100 ms and zero errors: {verdict}")
        print(
            f"api mixed({mix_text}) rate={args.rate:g}/s seconds={args.seconds:g} requests={len(m_all)} "
            f"throughput={len(m_all) / m_elapsed:,.0f} req/s p50={p50:.1f} ms p99={p99:.1f} ms "
            f"errors={m_err} server_cpu={m_cpu:.2f} ms/req "
            f"baseline_health_p99={b99:.1f} ms (errors={b_err}) "
            f"ratio_p99_to_baseline={p99 / b99:.1f}"
        )


if __name__ == "__main__":
    main()
