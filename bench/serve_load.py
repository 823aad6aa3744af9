"""Load on `qa serve`: N concurrent clients ask for a fixed time while an ingest runs.

Only 127.0.0.1; the request loop is bounded in time and count and stops by itself. Reports
requests/s, p50/p95/p99 latency and the error count (which must be 0).

    python bench/serve_load.py --index .bench-cache/qa-index --clients 4 --seconds 30
    python bench/serve_load.py --index DEV_INDEX --clients 1 --ingest-articles 0 --seconds 60 \
        --questions ../shared/data/realtimeqa-2023h1/questions.jsonl [--env QA_SHORT_ANSWER_JUDGE=false]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

QUESTIONS = [
    "When did the central bank last cut interest rates?",
    "Who won the national cup?",
    "What did the council decide about the tram line?",
    "How many homes lost power in the storm?",
    "Which former pope was laid to rest this week?",
    "What happened to Silicon Valley Bank?",
]
MAX_REQUESTS = 20_000


def wait_up(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--endpoint", choices=["ask", "chat"], default="ask")
    ap.add_argument("--ingest-articles", type=int, default=200, help="articles ingested during the run")
    ap.add_argument("--questions", type=Path,
                    help="ask a dataset's questions (questions.jsonl: question, asked_on) in order, each as of its "
                         "date, instead of the six fixed ones (so the reader meets sentences it has not read)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a setting for the server")
    args = ap.parse_args()

    asks = [{"question": q} for q in QUESTIONS]
    if args.questions:
        rows = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
        asks = [{"question": r["question"], "as_of": r["asked_on"]} for r in rows]
    qa = Path(sys.executable).parent / "qa"
    env = {**os.environ, "QA_RATE_LIMIT_PER_MINUTE": "1000000", **dict(kv.split("=", 1) for kv in args.env)}
    server = subprocess.Popen([str(qa), "serve", "--index", str(args.index), "--port", str(args.port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        wait_up(url)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        stop = time.time() + args.seconds

        def client(i: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as c:
                n = 0
                while time.time() < stop and len(latencies) < MAX_REQUESTS:
                    body = asks[(i + n) % len(asks)]
                    n += 1
                    t = time.perf_counter()
                    try:
                        if args.endpoint == "ask":
                            r = c.post("/ask", json=body)
                        else:
                            r = c.post("/v1/chat/completions", json={
                                "model": "qa", "messages": [{"role": "user", "content": body["question"]}],
                                **({"as_of": body["as_of"]} if "as_of" in body else {})})
                        ok = r.status_code == 200
                    except httpx.HTTPError as e:
                        ok, r = False, e
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        if not ok:
                            errors.append(str(getattr(r, "status_code", r)))

        def ingester() -> dict:
            if args.ingest_articles <= 0:
                return {}
            import random

            rnd = random.Random(time.time_ns())
            words = "harbour ferry storm council budget tram museum festival court river bridge school market".split()
            arts = [{"id": f"load-{time.time_ns()}-{i}", "title": f"Load test bulletin {i}",
                     "text": " ".join(" ".join(rnd.choices(words, k=12)).capitalize() + f" {rnd.randint(0, 10**6)}." for _ in range(12)),
                     "published_at": "2023-06-01", "source": "Load Wire"} for i in range(args.ingest_articles)]
            t = time.perf_counter()
            r = httpx.post(f"{url}/ingest", json={"articles": arts}, timeout=600)
            return {"status": r.status_code, "seconds": round(time.perf_counter() - t, 1), **(r.json() if r.status_code == 200 else {})}

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        ingest_result = ingester()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        lat = sorted(latencies)

        def pct(p: float) -> float:
            return round(1000 * lat[min(len(lat) - 1, int(len(lat) * p))], 1)

        peak_rss_mb = None
        try:  # the server's high-water mark of resident memory (Linux)
            for line in Path(f"/proc/{server.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_rss_mb = round(int(line.split()[1]) / 1024)
        except OSError:
            pass
        print(json.dumps({
            "endpoint": args.endpoint, "questions": str(args.questions or "six fixed"), "env": args.env,
            "server_peak_rss_mb": peak_rss_mb, "clients": args.clients, "seconds": round(elapsed, 1),
            "requests": len(lat), "requests_per_s": round(len(lat) / elapsed, 2),
            "p50_ms": round(1000 * statistics.median(lat), 1), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "errors": len(errors), "ingest_during_run": {k: ingest_result.get(k) for k in ("status", "seconds", "added")},
        }, indent=2))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
