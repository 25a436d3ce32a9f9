"""The reading service under load: ``svhn serve`` on 127.0.0.1, driven by concurrent clients on the same machine.

    python -m benchmarks.bench_serve [--workers 2] [--clients 32] [--seconds 60] [--burst 400] [--real 32]

Bounded in requests and seconds, localhost only. Phases, one server process (``--workers`` worker processes under
uvicorn's supervisor) all through:

1. agreement: each photo read once over HTTP and once by ``predict()`` in this process: the numbers must be equal;
2. load: ``--clients`` clients, each posting one photo per request (a new connection each, as ``urllib`` does) and
   the next as soon as it has its answer, for a warm-up (``--warmup-passes`` over the photos per worker, not
   counted) and then ``--seconds``:
   throughput, latency percentiles, every status, connection errors, and the server's memory (the resident
   set of the supervisor and its workers) after the warm-up and at the end;
3. burst: ``--burst`` requests at once, more than the workers' queues admit (``--queue`` each): the 503s, that
   nothing else fails, and that a request after ``Retry-After`` is read;
4. kill: the clients again for ``--kill-seconds``, one worker killed (SIGKILL) a quarter of the way in: what
   the others answered meanwhile, what failed, and when the supervisor's new worker answers ``/health``.

The photos: ``--real N``, the first N real SVHN test photos (``$SVHN_REAL/images/test``, read only, for
evaluation), else N synthetic photos rendered here (``--synthetic N``, seed 0). The clients share the machine's
cores with the server: the figures are for both on one machine, and the core count is printed.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Tally:
    """What the clients saw: (seconds since the phase began, latency, status) per answer; failed connections."""

    answers: list[tuple[float, float, int]] = field(default_factory=list)
    broken: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self) -> Counter:
        return Counter(s for _, _, s in self.answers)


def photos(real: int | None, synthetic: int) -> tuple[list[tuple[str, bytes]], str]:
    if real:
        from svhn_api.paths import real_svhn_dir

        folder = real_svhn_dir() / "images" / "test"
        files = sorted(folder.glob("*.png"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)[:real]
        if not files:
            raise SystemExit(f"no real test photos in {folder}: set $SVHN_REAL, or use --synthetic")
        return [(f.name, f.read_bytes()) for f in files], f"the first {len(files)} real SVHN test photos ({folder})"
    import numpy as np

    from svhn_api.synthetic import render_sample

    out = []
    for i in range(synthetic):
        buf = io.BytesIO()
        render_sample(np.random.default_rng([0, i]), "test")[0].save(buf, format="PNG")
        out.append((f"synthetic{i}.png", buf.getvalue()))
    return out, f"{synthetic} synthetic photos (rendered, seed 0, test split's renderer)"


def descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def rss_mb(pid: int) -> float:
    total = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run_clients(url: str, shots: list[tuple[str, bytes]], clients: int, seconds: float, options: dict,
                requests: int | None = None) -> Tally:
    """``clients`` threads posting the photos in turn for ``seconds`` (or until ``requests`` are answered)."""
    from svhn_api.serve.client import read

    tally = Tally()
    t0 = time.monotonic()
    end = t0 + seconds

    def client(k: int) -> None:
        i = k
        while time.monotonic() < end and (requests is None or len(tally.answers) < requests):
            shot = shots[i % len(shots)]
            i += clients
            start = time.monotonic()
            try:
                status = read(url, [shot], options=options, timeout=120).status
            except OSError as e:
                with tally.lock:
                    tally.broken[type(e).__name__ if not hasattr(e, "reason") else str(e.reason)[:60]] += 1
                time.sleep(0.05)
                continue
            with tally.lock:
                tally.answers.append((start - t0, time.monotonic() - start, status))
            if status == 503:
                time.sleep(1)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def report(name: str, tally: Tally, seconds: float) -> dict:
    ok = [lat for _, lat, s in tally.answers if s == 200]
    st = tally.statuses()
    out = {"requests": len(tally.answers), "read": len(ok), "per_second": len(ok) / seconds,
           "p50": percentile(ok, 50) if ok else float("nan"), "p99": percentile(ok, 99) if ok else float("nan"),
           "max": max(ok) if ok else float("nan"), "statuses": dict(sorted(st.items())), "broken": dict(tally.broken),
           "5xx_not_503": sum(n for s, n in st.items() if s >= 500 and s != 503)}
    print(f"{name}: {out['requests']:,} answers in {seconds:.0f} s, {out['read']:,} read ({out['per_second']:.2f}/s); "
          f"latency of the readings p50 {out['p50']:.2f} s, p99 {out['p99']:.2f} s (p99/p50 "
          f"{out['p99'] / out['p50']:.2f}), max {out['max']:.2f} s; statuses {out['statuses']}; failed connections "
          f"{out['broken'] or 0}; 5xx other than 503: {out['5xx_not_503']}", flush=True)
    return out


def health(url: str) -> dict | None:
    from svhn_api.serve.client import call

    try:
        answer = call(f"{url}/health", timeout=5)
    except OSError:
        return None
    return answer.body if answer.status == 200 else None


def worker_pids(url: str, tries: int = 60) -> set[int]:
    """The worker pids that answer ``/health`` (each call a new connection, so the workers share them)."""
    return {h["pid"] for _ in range(tries) if (h := health(url)) is not None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0, help="the load phase, after --warmup")
    ap.add_argument("--warmup-passes", type=int, default=2,
                    help="warm-up readings (not counted): this many passes over the photos per worker, so that each "
                    "worker's buffers have grown to the photos' sizes before memory is measured")
    ap.add_argument("--warmup-cap", type=float, default=300.0, help="the warm-up's longest, in seconds")
    ap.add_argument("--burst", type=int, default=400, help="requests at once in the burst")
    ap.add_argument("--queue", type=int, default=64, help="the server's queue per worker")
    ap.add_argument("--kill-seconds", type=float, default=20.0)
    ap.add_argument("--real", type=int, default=None, metavar="N", help="the first N real SVHN test photos")
    ap.add_argument("--synthetic", type=int, default=32, metavar="N")
    ap.add_argument("--pipeline", choices=("full", "fast"), default=None, help="default: the server's")
    ap.add_argument("--port", type=int, default=None)
    a = ap.parse_args()
    from dashboard.screenshots import free_port
    from svhn_api.inference.predict import predict
    from svhn_api.serve.client import read

    shots, what = photos(a.real, a.synthetic)
    options = {"pipeline": a.pipeline} if a.pipeline else {}
    port = a.port or free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"machine: {os.cpu_count()} cores (clients and server on the same ones); photos: {what}; server: svhn serve "
          f"--workers {a.workers} --queue {a.queue}; pipeline: {a.pipeline or 'the default'}", flush=True)
    server = subprocess.Popen([sys.executable, "-m", "svhn_api", "serve", "--port", str(port), "--workers",
                               str(a.workers), "--queue", str(a.queue), "--log-level", "warning"], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        t0 = time.monotonic()
        while health(url) is None:
            if server.poll() is not None or time.monotonic() - t0 > 180:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        pids = worker_pids(url)
        print(f"ready in {time.monotonic() - t0:.1f} s; workers answering /health: {sorted(pids)}; memory "
              f"{rss_mb(server.pid):.0f} MB", flush=True)

        served = [read(url, [shot], options=options).body["results"][0] for shot in shots]
        local = predict([data for _, data in shots], names=[n for n, _ in shots], pipeline=a.pipeline)
        same = sum(s["number"] == r.number and s["error"] is None for s, r in zip(served, local, strict=True))
        print(f"agreement: {same}/{len(shots)} photos read over HTTP give predict()'s number", flush=True)

        warm = a.warmup_passes * len(shots) * a.workers
        t_warm = time.monotonic()
        run_clients(url, shots, a.clients, a.warmup_cap, options, requests=warm)
        before = rss_mb(server.pid)
        print(f"warm-up: {warm} readings ({a.warmup_passes} passes over the photos per worker) in "
              f"{time.monotonic() - t_warm:.0f} s; memory {before:.0f} MB", flush=True)
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(a.seconds / 6):
                samples.append(rss_mb(server.pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        load = report(f"load, {a.clients} clients", run_clients(url, shots, a.clients, a.seconds, options), a.seconds)
        done.set()
        sampler.join()
        after = rss_mb(server.pid)
        print(f"memory: {before:.0f} MB after the warm-up, {after:.0f} MB after the load ({after / before - 1:+.1%}); "
              f"during it, every {a.seconds / 6:.0f} s: {', '.join(f'{m:.0f}' for m in samples)} MB", flush=True)

        burst = Tally()
        gate = threading.Barrier(a.burst)

        def one() -> None:
            gate.wait()
            start = time.monotonic()
            try:
                status = read(url, [shots[0]], options=options, timeout=120).status
            except OSError as e:
                with burst.lock:
                    burst.broken[type(e).__name__] += 1
                return
            with burst.lock:
                burst.answers.append((0.0, time.monotonic() - start, status))

        t_burst = time.monotonic()
        threads = [threading.Thread(target=one) for _ in range(a.burst)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        st = burst.statuses()
        time.sleep(1)
        after_burst = read(url, [shots[0]], options=options).status
        print(f"burst: {a.burst} requests at once, answered in {time.monotonic() - t_burst - 1:.1f} s: statuses "
              f"{dict(sorted(st.items()))}, failed connections {dict(burst.broken) or 0}; the next request after "
              f"Retry-After: {after_burst}; server alive: {server.poll() is None}", flush=True)

        if a.workers > 1:
            pids = worker_pids(url)
            victim = min(pids)
            killed_at: list[float] = []
            restarted: list[tuple[float, int]] = []
            stop = threading.Event()

            def killer() -> None:
                time.sleep(a.kill_seconds / 4)
                os.kill(victim, signal.SIGKILL)
                killed_at.append(time.monotonic())
                while not stop.is_set():
                    h = health(url)
                    if h is not None and h["pid"] not in pids:
                        restarted.append((time.monotonic() - killed_at[0], h["pid"]))
                        return
                    time.sleep(0.1)

            k = threading.Thread(target=killer)
            k.start()
            t_kill = time.monotonic()
            tally = run_clients(url, shots, a.clients, a.kill_seconds, options)
            stop.set()
            k.join()
            at = killed_at[0] - t_kill
            report(f"kill, {a.clients} clients, worker {victim} killed at {at:.1f} s", tally, a.kill_seconds)
            after_kill = [s for t, _, s in tally.answers if t > at]
            print(f"kill: {sum(s == 200 for s in after_kill)} readings answered after the kill; the supervisor's new "
                  f"worker {restarted[0][1] if restarted else '(none)'} answered /health "
                  f"{f'{restarted[0][0]:.1f} s' if restarted else 'never'} after it; workers now "
                  f"{sorted(worker_pids(url))}", flush=True)
        ok = load["5xx_not_503"] == 0 and load["p99"] <= 10 * load["p50"] and after < 1.1 * before
        print(f"load criteria (zero 5xx other than 503, p99 <= 10x p50, memory growth < 10%): "
              f"{'met' if ok else 'NOT met'}", flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
