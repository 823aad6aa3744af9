"""What following the news costs: a re-poll of unchanged feeds with qa's fetch state (conditional
GET, entries already indexed not fetched) against the obvious alternative in the same run, a
re-poll without it (every feed and page fetched again, the content hash finding them unchanged);
and the memory a gzip bomb costs the fetcher.

    python bench/feeds.py [--copies 20]

Serves the test fixtures (tests/fixtures/news) from a real server on 127.0.0.1, ``--copies`` times
over (each copy a feed of its own with its own pages), with the bundled embedding model."""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "helpers")]

from news_server import FIXTURES, NewsServer, Route  # noqa: E402

from qa.assistant import Assistant  # noqa: E402
from qa.feeds.fetch import Fetcher, FetchError  # noqa: E402
from qa.settings import Settings  # noqa: E402

PAGES = ["harbour-bridge", "dam-talks", "port-strike"]


def serve_copies(server: NewsServer, copies: int) -> list[str]:
    feeds = []
    for n in range(copies):
        items = "".join(
            f"<item><title>Copy {n} of {page}</title><link>{{{{BASE}}}}/c{n}/{page}.html?utm_source=rss</link>"
            f"<pubDate>Sat, 08 Mar 2025 09:{i:02d}:00 GMT</pubDate></item>" for i, page in enumerate(PAGES))
        server.routes[f"/c{n}/feed.rss"] = Route(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Copy {n}</title>{items}</channel></rss>'.encode(),
            "application/rss+xml")
        for page in PAGES:
            body = (FIXTURES / f"{page}.html").read_bytes().replace(b"{{BASE}}/", f"{{{{BASE}}}}/c{n}/".encode())
            body = body.replace(b"<p>", f"<p>Copy {n}. ".encode())  # distinct texts, not near-duplicates
            server.routes[f"/c{n}/{page}.html"] = Route(body)
            for section in ("world", "business"):
                server.routes[f"/c{n}/{section}/{page}.html"] = Route(body)
        feeds.append(server.url(f"/c{n}/feed.rss"))
    return feeds


def poll(index: Path, feeds: list[str], server: NewsServer) -> tuple[float, int, int]:
    bot = Assistant.open(index, fetch_delay=0.0)
    server.reset_counts()
    started = time.perf_counter()
    report = bot.ingest(feeds)
    seconds = time.perf_counter() - started
    bot.close()
    assert report.failed == 0, report.errors[:3]
    return seconds, sum(server.hits.values()), report.added


def bomb_memory(server: NewsServer) -> tuple[int, float]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(1000)) + compressor.flush()  # 1 GiB inflated
    server.routes["/bomb.xml"] = Route(bomb, "application/xml", gzip=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        Fetcher(Settings(fetch_robots=False, fetch_max_bytes=10_000_000)).get(server.url("/bomb.xml"))
    except FetchError as e:
        assert "too large" in str(e)
    return len(bomb), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-feeds-"))
    try:
        with NewsServer() as server:
            size, grown = bomb_memory(server)  # first: before the model raises the peak
            feeds = serve_copies(server, args.copies)
            first = poll(tmp / "index", feeds, server)
            again = poll(tmp / "index", feeds, server)
            (tmp / "index" / "fetch.sqlite3").unlink()  # the alternative: no fetch state kept
            blind = poll(tmp / "index", feeds, server)
            print(f"{len(feeds)} feeds, {len(feeds) * len(PAGES)} pages")
            print(f"first poll:                    {first[0]:6.2f} s  {first[1]:4d} requests  {first[2]} added")
            print(f"re-poll with fetch state:      {again[0]:6.2f} s  {again[1]:4d} requests")
            print(f"re-poll without it (refetch):  {blind[0]:6.2f} s  {blind[1]:4d} requests")
            print(f"gzip bomb: {size:,} bytes inflating to 1 GiB, cap 10 MB: peak memory grew {grown:.1f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
