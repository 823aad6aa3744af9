"""An index shared through a Chroma server: a small ingest, a replica's catch-up, its search.

Starts a `chroma run` server on 127.0.0.1 (or uses ``--chroma-url``), writes a synthetic index of
``--chunks`` chunks to it through qa's real IndexWriter (bench/scale.py's texts and random unit
vectors), then, for this checkout and for any ``--baseline SRC`` tree (e.g. a `git worktree` of
the previous commit, whose server mode copied the whole collection into a new one per ingest),
each on its own index on the same server, in the same run:

  ingest    cold `qa ingest FILE --json` processes of ``--articles`` new real articles each
            (``--repeats`` times, different articles each time), wall time, and the same
            articles' bare encoding time with the index's ONNX export (so overhead = wall - encode)
  warm      (this checkout only) the same ingest through the Python API in a process that has
            already ingested once (as `qa serve`'s POST /ingest or `qa watch` run it): what the
            index costs beyond encoding, without process start and imports
  replica   (this checkout only) `qa index follow` of the index from empty, then its incremental
            catch-up after each ingest; the pickup latency of a `qa serve` replica polling every
            2 s (from the writer's exit to the new article in the replica's /search)
  search    warm `Retriever.search` p50/p95 on the replica (exact dense matrix + BM25 local,
            chunk texts fetched from the server), with an as-of filter

    python bench/shared_store.py --chunks 100000 --articles 10 --repeats 3 --baseline /tmp/qa-base/src

``--writer INDEX --chroma-url URL``: only the small ingests, cold and warm, into an index already
on a server (e.g. one an earlier run or ``scale.build`` made), every tree in turn on that one index.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
DATA = HERE.parent.parent / "shared" / "data" / "realtimeqa-2023h1" / "articles.jsonl"


def _lines(path: Path) -> list[str]:
    """The lines of an articles file (JSON Lines, gzipped when it ends in .gz)."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.readlines()


def start_chroma(folder: Path) -> tuple[str, subprocess.Popen]:
    from qa.answer.llms import free_port

    port = free_port()
    exe = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(exe), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            return url, proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("chroma run did not come up")


def qa(src: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(src), **(env or {})}
    full.pop("QA_INDEX", None)
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, env=full, check=True)


def build(src: Path, index: Path, url: str, chunks: int) -> float:
    """The synthetic index, written by the qa in ``src`` (in a child process); seconds."""
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; from scale import build; from pathlib import Path; "
            "build(Path(sys.argv[3]), int(sys.argv[4]), chroma_url=sys.argv[5])")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(src), str(HERE), str(index), str(chunks), url], check=True,
                   env={**os.environ, "PYTHONPATH": str(src)})
    return time.perf_counter() - t


def articles(start: int, n: int, folder: Path) -> Path:
    """``n`` real articles from the development set (the samples when it is absent)."""
    path = folder / f"articles-{start}.jsonl"
    if DATA.exists():
        path.write_text("".join(_lines(DATA)[start : start + n]))
        return path
    return HERE.parent / "samples"


def top_ids(port: int, query: str) -> list[str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/search", data=json.dumps({"query": query, "k": 10}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return [x["doc_id"] for x in json.loads(r.read())["results"]]


def warm_child(index: Path, url: str, files: list[Path]) -> None:
    """In this process: ingest ``files[0]`` (warm-up), then each other file, timing each; the
    same articles' encoding timed alone. Prints JSON."""
    sys.path.insert(0, str(HERE))
    from small_ingest import encode_seconds

    from qa.assistant import Assistant
    from qa.settings import Settings

    bot = Assistant(Settings(index=index, chroma_url=url))
    bot.ingest([files[0]])
    runs = []
    for f in files[1:]:
        t = time.perf_counter()
        bot.ingest([f])
        wall = time.perf_counter() - t
        n, enc = encode_seconds(f, index)
        runs.append({"wall_s": round(wall, 3), "encode_s": round(enc, 3), "chunks": n})
    bot.close()
    print(json.dumps(runs))


def search_latency(index: Path, queries: int) -> dict:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from scale import pct, vocabulary

    from qa.index.reader import IndexReader
    from qa.retrieve import Retriever, SearchFilters
    from qa.settings import Settings

    settings = Settings(index=index)
    reader = IndexReader(settings)
    r = Retriever(reader, settings)
    filters = SearchFilters(as_of=date(2023, 9, 1))
    r.search("warm up", filters=filters)
    rng = np.random.default_rng(3)
    vocab = vocabulary()
    times = []
    for _ in range(queries):
        q = " ".join(rng.choice(vocab[:3000], size=6))
        t = time.perf_counter()
        r.search(q, filters=filters)
        times.append((time.perf_counter() - t) * 1000)
    reader.close()
    return {"p50_ms": round(pct(times, 50), 1), "p95_ms": round(pct(times, 95), 1)}


def new_windows(writer: Path, n: int, skip: int, chars: tuple[int, int] | None) -> Iterator[int]:
    """Starts of runs of ``n`` development-set articles from ``skip`` on that the writer's
    published catalog does not hold, with ``chars`` (min, max) characters of text in all (so
    that the trees' batches are alike: a long article adds the server's write time); every
    run when the dataset is absent."""
    import sqlite3

    if not DATA.exists():
        yield from range(skip, 10**9, n)
        return
    gen = (writer / (writer / "CURRENT").read_text().strip())
    db = sqlite3.connect(f"file:{gen / 'catalog.sqlite'}?mode=ro", uri=True)
    held = {r[0] for r in db.execute("SELECT doc_id FROM documents")}
    db.close()
    records = [json.loads(line) for line in _lines(DATA)]
    for start in range(skip, len(records) - n + 1, n):
        run = records[start : start + n]
        size = sum(len(r.get("text", "")) for r in run)
        if not any(r.get("id") in held for r in run) and (chars is None or chars[0] <= size <= chars[1]):
            yield start


def small_ingests(writer: Path, trees: list[tuple[str, Path]], n: int, repeats: int, skip: int,
                  chars: tuple[int, int] | None = None, settle: float = 0.0) -> None:
    """Cold `qa ingest` processes of ``n`` new articles into one existing writer index, the trees
    taking turns (each ingest's articles are new to the index; ``chars``: only runs of articles
    of that size, see ``new_windows``; ``settle``: seconds to wait before each, for the server's
    own work on the last one), then a warm process per tree (its first ingest pays the imports).
    Beyond encoding: the wall time minus the same articles' bare encoding measured right after,
    and minus the process's own encode calls."""
    sys.path.insert(0, str(HERE))
    from small_ingest import COLD_CHILD, WARM_CHILD, child_env, encode_seconds

    tmp = Path(tempfile.mkdtemp(prefix="qa-shared-small-"))
    windows = new_windows(writer, n, skip, chars)
    out: dict = {"writer": str(writer), "articles": n, "chars": chars,
                 "variants": {label: {"cold": [], "warm": []} for label, _ in trees}}
    try:
        for round_ in range(repeats):
            for label, src in (trees if round_ % 2 == 0 else trees[::-1]):  # each tree goes first in turn
                batch = articles(next(windows), n, tmp)
                os.sync()
                time.sleep(settle)
                t = time.perf_counter()
                err = subprocess.run([sys.executable, "-c", COLD_CHILD, str(batch), str(writer)], env=child_env(src),
                                     capture_output=True, text=True, check=True).stderr
                wall = time.perf_counter() - t
                own = float(err.rsplit("ENCODE_S ", 1)[1].split()[0])
                chunks, enc = encode_seconds(batch, writer)
                out["variants"][label]["cold"].append({"wall_s": round(wall, 2), "chunks": chunks, "bare_encode_s": round(enc, 2),
                                                       "beyond_bare_s": round(wall - enc, 2), "beyond_own_calls_s": round(wall - own, 2)})
                print(f"{label}: cold {wall:.2f} s, beyond encoding {wall - enc:.2f} s", file=sys.stderr)
        for label, src in trees:
            files = [str(articles(next(windows), n, tmp)) for _ in range(repeats + 1)]
            lines = subprocess.run([sys.executable, "-c", WARM_CHILD, str(writer), *files], env=child_env(src),
                                   capture_output=True, text=True, check=True).stdout.splitlines()
            out["variants"][label]["warm"] = [round(d["wall"] - d["encode"], 2) for d in map(json.loads, lines)]
        for v in out["variants"].values():
            v["cold_beyond_bare_p50_s"] = round(statistics.median(r["beyond_bare_s"] for r in v["cold"]), 2)
            v["cold_beyond_own_calls_p50_s"] = round(statistics.median(r["beyond_own_calls_s"] for r in v["cold"]), 2)
            v["warm_beyond_p50_after_first_s"] = round(statistics.median(v["warm"][1:]), 2)
        print(json.dumps(out, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--articles", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--baseline", type=Path, action="append", default=[], help="another qa source tree (its src/)")
    ap.add_argument("--chroma-url", help="an existing server (default: start one in a temporary folder)")
    ap.add_argument("--writer", type=Path, help="with --chroma-url: only the small ingests, cold and warm, into this "
                    "existing writer index on that server, every tree in turn (no build; no replica figures)")
    ap.add_argument("--skip", type=int, default=300, help="with --writer: development-set articles to pass over first "
                    "(those the index holds already)")
    ap.add_argument("--chars", help="with --writer: MIN-MAX characters of text per ingest (e.g. 35000-55000: ~50 chunks "
                    "per 10 articles), so that every tree's batches are alike")
    ap.add_argument("--dataset", type=Path, help="with --writer: the articles file (JSON Lines, .gz allowed; default "
                    "the development set's), e.g. the training set's once the development set's new runs are used up")
    ap.add_argument("--settle", type=float, default=0.0, help="with --writer: seconds to wait before each cold ingest")
    ap.add_argument("--warm-child", nargs="+", help=argparse.SUPPRESS)  # INDEX URL FILE...: the warm run's process
    args = ap.parse_args()
    if args.writer:
        if not args.chroma_url:
            raise SystemExit("--writer needs --chroma-url")
        chars = tuple(int(x) for x in args.chars.split("-", 1)) if args.chars else None
        if args.dataset:
            global DATA
            DATA = args.dataset
        small_ingests(args.writer, [("this", SRC)] + [(f"baseline:{b}", b) for b in args.baseline], args.articles,
                      args.repeats, args.skip, chars, args.settle)  # type: ignore[arg-type]
        return
    if args.warm_child:
        sys.path.insert(0, str(SRC))
        warm_child(Path(args.warm_child[0]), args.warm_child[1], [Path(f) for f in args.warm_child[2:]])
        return
    sys.path.insert(0, str(SRC))
    sys.path.insert(0, str(HERE))
    from small_ingest import encode_seconds

    tmp = Path(tempfile.mkdtemp(prefix="qa-shared-bench-"))
    server = None
    url = args.chroma_url
    if url is None:
        url, server = start_chroma(tmp / "chroma")
    out: dict = {"chunks": args.chunks, "articles": args.articles, "variants": {}}
    try:
        trees = [("this", SRC)] + [(f"baseline:{b}", b) for b in args.baseline]
        for label, src in trees:
            index = tmp / f"writer-{len(out['variants'])}"
            seconds = build(src, index, url, args.chunks)
            qa(src, "ingest", str(articles(0, args.articles, tmp)), "--index", str(index), "--chroma-url", url, "--json")  # exports the model
            out["variants"][label] = {"build_s": round(seconds, 1), "ingest": []}
            print(f"{label}: built {args.chunks:,} chunks in {seconds:.0f} s", file=sys.stderr)
        replica = tmp / "replica"
        index = tmp / "writer-0"
        index_id = (index / "INDEX_ID").read_text().strip()
        t = time.perf_counter()
        follow = json.loads(qa(SRC, "index", "follow", index_id, "--index", str(replica), "--chroma-url", url, "--json").stdout)
        out["replica_follow_from_empty"] = {"wall_s": round(time.perf_counter() - t, 2), "sync_s": follow["seconds"], "chunks": follow["chunks"]}
        steady = tmp / "replica-cli"  # a second replica, caught up by `qa index follow` after each ingest
        qa(SRC, "index", "follow", index_id, "--index", str(steady), "--chroma-url", url, "--json")
        from qa.answer.llms import free_port

        port = free_port()
        serve = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port), "--index", str(replica)],
                                 env={**os.environ, "PYTHONPATH": str(SRC)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            pickups, syncs = [], []
            for rep in range(args.repeats):
                for v, (label, src) in enumerate(trees):
                    batch = articles((1 + rep * len(trees) + v) * args.articles, args.articles, tmp)
                    n_chunks, enc = encode_seconds(batch, tmp / f"writer-{v}")
                    t = time.perf_counter()
                    qa(src, "ingest", str(batch), "--index", str(tmp / f"writer-{v}"), "--chroma-url", url, "--json")
                    wall = time.perf_counter() - t
                    out["variants"][label]["ingest"].append({"wall_s": round(wall, 2), "encode_s": round(enc, 2), "chunks": n_chunks})
                    print(f"{label}: ingest {wall:.2f} s (encoding {enc:.2f} s)", file=sys.stderr)
                    if v == 0:  # the replica follows this checkout's writer
                        first = json.loads(batch.read_text().splitlines()[0]) if batch.suffix == ".jsonl" else None
                        t = time.perf_counter()
                        while first is not None and first["id"] not in top_ids(port, first["title"]):
                            time.sleep(0.1)
                            if time.perf_counter() - t > 60:
                                break
                        pickups.append(time.perf_counter() - t)
                        step = json.loads(qa(SRC, "index", "follow", index_id, "--index", str(steady), "--chroma-url", url, "--json").stdout)
                        syncs.append(step["seconds"])
        finally:
            serve.terminate()
            serve.wait(timeout=30)
        out["replica_pickup_s"] = {"p50": round(statistics.median(pickups), 2), "max": round(max(pickups), 2), "poll_s": 2.0}
        out["replica_catch_up_s"] = {"p50": round(statistics.median(syncs), 3), "max": round(max(syncs), 3)}
        out["replica_search_warm"] = search_latency(replica, args.queries)
        base = (1 + args.repeats * len(trees)) * args.articles
        files = [articles(base + i * args.articles, args.articles, tmp) for i in range(args.repeats + 1)]
        child = subprocess.run([sys.executable, __file__, "--warm-child", str(index), url, *map(str, files)],
                               env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True, check=True)
        warm = json.loads(child.stdout.strip().splitlines()[-1])
        out["warm_ingest"] = {"runs": warm, "beyond_encoding_p50_s": round(statistics.median(r["wall_s"] - r["encode_s"] for r in warm), 2)}
        for label, v in out["variants"].items():
            walls = [r["wall_s"] for r in v["ingest"]]
            over = [r["wall_s"] - r["encode_s"] for r in v["ingest"]]
            v["ingest_p50_s"] = round(statistics.median(walls), 2)
            v["beyond_encoding_p50_s"] = round(statistics.median(over), 2)
        print(json.dumps(out, indent=2))
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
