"""The real `qa` command and `qa serve` following the news from a real server on 127.0.0.1:
`qa ingest URL`, `qa sources add/ls/rm`, `qa watch --once` as cron runs it, `qa serve --watch`
picking up a new entry without a restart, `POST /ingest` fetching only from listed hosts, and
SIGKILL during a poll leaving the index whole and the source list intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import qa_executable, run_qa, wait_until_up

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from news_server import FIXTURES, NewsServer, Route  # noqa: E402

from qa.answer.llms import free_port  # noqa: E402
from qa.checkpoints import MARKER, PAUSE_AT, PAUSE_SECONDS  # noqa: E402

NEW_ITEM = b"""<item><title>Contract signed for the Skerholm rail tunnel</title>
  <link>{{BASE}}/business/rail-tunnel.html?utm_source=rss</link><guid>ledger-tunnel</guid>
  <pubDate>Thu, 27 Feb 2025 10:00:00 +0100</pubDate></item>"""


@pytest.fixture
def server(news_server):
    return news_server


@pytest.fixture
def env(tiny_encoder) -> dict[str, str]:
    return {"QA_MODEL": str(tiny_encoder), "QA_FETCH_DELAY": "0", "QA_FETCH_TIMEOUT": "2",
            "QA_FETCH_BACKOFF": "0.05", "QA_FETCH_RETRIES": "1"}


def qa(*args: str, index: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_qa(*args, index=index, env=env, timeout=300)


def qa_json(*args: str, index: Path, env: dict[str, str], code: int = 0) -> dict:
    res = qa(*args, "--json", index=index, env=env)
    assert res.returncode == code, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return json.loads(res.stdout)


def add_new_item(server: NewsServer) -> None:
    rss = (FIXTURES / "world.rss").read_bytes().replace(b"</channel>", NEW_ITEM + b"</channel>")
    server.routes["/feeds/world.rss"] = Route(rss, "application/rss+xml")


def test_qa_ingest_urls_reports_each_failure_on_one_line(server, env, tmp_path):
    index = tmp_path / "index"
    res = qa("ingest", server.url("/feeds/world.rss"), server.url("/nope.rss"), "file:///etc/passwd", "--json",
             index=index, env=env)
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert (out["added"], out["failed"], out["fetched"], out["not_modified"]) == (4, 2, 4, 0)
    assert out["feeds"][0]["kind"] == "RSS 2.0" and out["feeds"][0]["entries"] == 4
    lines = res.stderr.strip().splitlines()
    assert f"failed: {server.url('/nope.rss')}: HTTP 404 Not Found" in lines
    assert "failed: file:///etc/passwd: only http(s) URLs are fetched, not file:" in lines
    listed = qa("index", "ls", index=index, env=env).stdout
    assert server.url("/world/dam-talks") in listed and "2025-03-07" in listed
    again = qa("ingest", server.url("/feeds/world.rss"), index=index, env=env)
    assert again.returncode == 0 and "fetched 0, not modified 1, feeds 1" in again.stdout


def test_sources_and_watch_once_as_cron_runs_it(server, env, tmp_path):
    index = tmp_path / "index"
    added = qa_json("sources", "add", server.url("/feeds/world.rss"), "--every", "1s", "--name", "Ledger World",
                    index=index, env=env)
    assert added == {"source": {"url": server.url("/feeds/world.rss"), "name": "Ledger World", "every": "1s",
                                "every_seconds": 1.0}, "added": True}
    qa_json("sources", "add", server.url("/sitemaps/news.xml"), index=index, env=env)
    bad = qa("sources", "add", server.url("/x.rss"), "--every", "soon", index=index, env=env)
    assert bad.returncode == 2 and "--every: not a duration: 'soon'" in bad.stderr
    listed = qa_json("sources", "ls", index=index, env=env)["sources"]
    assert [(s["name"], s["every"], s["last_poll"]) for s in listed] == [("Ledger World", "1s", None), ("", "30m", None)]

    first = qa_json("watch", "--once", index=index, env=env)
    assert (first["added"], first["failed"]) == (5, 0) and len(first["feeds"]) == 2
    add_new_item(server)
    time.sleep(1.1)
    server.reset_counts()
    second = qa_json("watch", "--once", index=index, env=env)  # only the 1s source is due
    assert [f["url"] for f in second["feeds"]] == [server.url("/feeds/world.rss")]
    assert (second["added"], second["unchanged"]) == (1, 4)
    assert dict(server.hits) == {"/robots.txt": 1, "/feeds/world.rss": 1, "/business/rail-tunnel.html?utm_source=rss": 1}
    human = qa("watch", "--once", index=index, env=env)
    assert human.returncode == 0 and "no source is due" in human.stderr or "not modified" in human.stdout

    assert qa("sources", "rm", "Ledger World", index=index, env=env).returncode == 0
    assert qa("sources", "rm", server.url("/sitemaps/news.xml"), index=index, env=env).returncode == 0
    missing = qa("sources", "rm", "Ledger World", index=index, env=env)
    assert missing.returncode == 1 and "no source with URL or name 'Ledger World'" in missing.stderr
    none = qa("watch", "--once", index=index, env=env)
    assert none.returncode == 1 and "no sources to watch" in none.stderr
    assert len(qa_json("index", "ls", index=index, env=env)["documents"]) == 6  # documents stay


def _serve(index: Path, env: dict[str, str], *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(index.parent / f"serve-{port}.log", "wb")
    proc = subprocess.Popen([qa_executable(), "serve", "--index", str(index), "--port", str(port), *extra],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/healthz", proc)
    return proc, url


def test_the_server_fetches_only_from_hosts_the_operator_lists(server, env, tmp_path):
    index = tmp_path / "index"
    proc, url = _serve(index, env)
    try:
        r = httpx.post(f"{url}/ingest", json={"urls": [server.url("/feeds/world.rss")]})
        assert r.status_code == 403 and "QA_INGEST_URL_HOSTS" in r.json()["error"]["message"]
        r = httpx.post(f"{url}/ingest", json={"articles": [server.url("/feeds/world.rss")]})
        assert r.status_code == 200 and r.json()["errors"][0]["error"] == "record is not a JSON object"
        assert sum(server.hits.values()) == 0  # the server never fetched anything
    finally:
        proc.kill()
        proc.wait()
    port = server.base.rsplit(":", 1)[1]
    proc, url = _serve(index, {**env, "QA_INGEST_URL_HOSTS": f'["127.0.0.1:{port}"]'})
    try:
        r = httpx.post(f"{url}/ingest", json={"urls": [server.url("/world/dam-talks.html"),
                                                         f"http://localhost:{port}/feeds/world.rss"]}, timeout=120)
        assert r.status_code == 200
        body = r.json()
        assert body["added"] == 1 and body["fetched"] == 1
        assert body["errors"] == [{"path": f"http://localhost:{port}/feeds/world.rss", "line": None,
                                   "error": "host localhost is not in the hosts this server may fetch from"}]
        assert server.hits["/feeds/world.rss"] == 0
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_serve_watch_picks_up_a_new_entry_without_a_restart(server, env, tmp_path):
    index = tmp_path / "index"
    assert qa("sources", "add", server.url("/feeds/world.rss"), "--every", "1s", index=index, env=env).returncode == 0
    proc, url = _serve(index, env, "--watch")
    try:
        def documents() -> int:
            return httpx.get(f"{url}/healthz").json().get("documents", 0)

        deadline = time.monotonic() + 120
        while documents() < 4 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert documents() == 4
        add_new_item(server)
        while documents() < 5 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert documents() == 5
        hits = httpx.post(f"{url}/search", json={"query": "Skerholm rail tunnel contract", "k": 3}).json()["results"]
        assert server.url("/business/rail-tunnel.html") in {h["doc_id"] for h in hits}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["urls-fetched", "batch-embedded", "before-publish", "after-publish"])
def test_sigkill_during_a_poll_leaves_index_and_sources_whole(server, env, tmp_path, stage):
    index = tmp_path / "index"
    qa("sources", "add", server.url("/feeds/world.rss"), "--every", "1s", "--name", "World", index=index, env=env)
    qa("sources", "add", server.url("/feeds/politics.atom"), "--every", "1s", index=index, env=env)
    sources_before = (index / "sources.json").read_bytes()
    marker = tmp_path / "paused"
    proc = subprocess.Popen([qa_executable(), "watch", "--once", "--index", str(index)],
                            env={**os.environ, **env, PAUSE_AT: stage, MARKER: str(marker), PAUSE_SECONDS: "600"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, f"qa watch exited {proc.returncode} before {stage}"
        assert time.monotonic() < deadline, f"{stage} not reached"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert (index / "sources.json").read_bytes() == sources_before
    expected = {server.url(p) for p in ("/world/harbour-bridge.html", "/world/dam-talks", "/business/port-strike.html",
                                        "/world/ferry-fares.html", "/politics/valley-summit.html")}
    if (index / "CURRENT").exists():  # killed after the publish: the new index, whole
        listed = {d["doc_id"] for d in qa_json("index", "ls", index=index, env=env)["documents"]}
        assert listed == (expected if stage == "after-publish" else set())
    time.sleep(1.1)
    done = qa_json("watch", "--once", index=index, env=env)
    assert done["failed"] == 0 and done["documents"] == 5
    assert {d["doc_id"] for d in qa_json("index", "ls", index=index, env=env)["documents"]} == expected
    assert qa_json("sources", "ls", index=index, env=env)["sources"][0]["name"] == "World"


def test_an_every_longer_than_a_year_is_refused_and_the_list_stays_readable(server, env, tmp_path):
    """`--every 99999999999d` was followed, and once polled every `qa sources ls` was a ValueError
    traceback (its next poll lies past the year 9999)."""
    index = tmp_path / "index"
    url = server.url("/nope.rss")
    for every in ("99999999999d", "367d", "9" * 400):
        bad = qa("sources", "add", url, "--every", every, index=index, env=env)
        assert bad.returncode == 2 and "--every: not a duration" in bad.stderr and "Traceback" not in bad.stderr
    ok = qa_json("sources", "add", url, "--every", "365d", index=index, env=env)
    assert ok["source"]["every_seconds"] == 365 * 86400
    qa("watch", "--once", index=index, env=env)
    listed = qa_json("sources", "ls", index=index, env=env)["sources"]
    assert [s["every"] for s in listed] == ["365d"] and listed[0]["next_poll"]
    # a list an older qa wrote with such a duration is one line, not a traceback
    (index / "sources.json").write_text(json.dumps({"sources": [{"url": url, "name": "", "every": "99999999999d"}]}))
    res = qa("sources", "ls", index=index, env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "sources.json" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_sources_rm_on_a_folder_without_sources_creates_nothing(tmp_path):
    """`qa sources rm NAME --index mistyped` said 'no source …' but left the folder 'mistyped'
    holding a lock file behind, which later commands took for an index folder."""
    mistyped = tmp_path / "mistyped"
    res = run_qa("sources", "rm", "Ledger World", "--json", index=mistyped)
    assert res.returncode == 1 and "no source with URL or name 'Ledger World'" in res.stderr
    assert res.stderr.count("\n") == 1 and res.stdout == ""
    assert not mistyped.exists()
    assert run_qa("sources", "ls", index=mistyped).returncode == 0 and not mistyped.exists()


def test_a_round_with_no_source_due_reports_the_index_as_it_is(server, env, tmp_path):
    """`qa watch --once --json` with no source due said "documents": 0, "chunks": 0 of an index
    holding 4 documents: the contract's totals are the published index's, whatever the round did."""
    index = tmp_path / "index"
    qa_json("sources", "add", server.url("/feeds/world.rss"), "--every", "1h", index=index, env=env)
    first = qa_json("watch", "--once", index=index, env=env)
    stats = qa_json("index", "stats", index=index, env=env)
    assert first["documents"] == stats["documents"] >= 1 and first["chunks"] == stats["chunks"]
    idle = qa_json("watch", "--once", index=index, env=env)  # nothing is due for an hour
    assert idle["feeds"] == [] and idle["added"] == 0
    assert (idle["documents"], idle["chunks"]) == (stats["documents"], stats["chunks"])


def test_json_feed_items_that_are_not_objects_are_skipped_with_a_warning_naming_feed_and_position(server, env, tmp_path):
    """A JSON Feed whose `items` held numbers, strings or null lost them without a word; each is
    a warning naming the feed and the item's position, and the feed's real items are read."""
    from news_server import Route

    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Ledger JSON",
            "items": [42, {"id": "bridge", "url": "{{BASE}}/world/harbour-bridge.html", "title": "Harbour bridge"},
                      "https://ledger.example/a-link-as-a-string", None,
                      {"id": "dam", "url": "{{BASE}}/world/dam-talks.html", "title": "Dam talks"}]}
    server.routes["/feeds/ledger.json"] = Route(json.dumps(feed).encode(), "application/feed+json", etag=False)
    url = server.url("/feeds/ledger.json")
    index = tmp_path / "index"
    qa_json("sources", "add", url, "--every", "1s", index=index, env=env)
    out = qa_json("watch", "--once", index=index, env=env)
    assert (out["added"], out["failed"]) == (2, 0), out
    warned = [(w["path"], w["warning"]) for w in out["warnings"] if w["path"] == url]
    assert [w.split(":")[0] for _, w in warned] == ["item 1", "item 3", "item 4"], out["warnings"]
    assert all(kind in w for (_, w), kind in zip(warned, ("a number", "a string", "null"))), warned
    time.sleep(1.1)
    human = qa("sources", "ls", index=index, env=env)  # still listed, nothing of the feed lost
    assert human.returncode == 0 and url in human.stdout
    again = qa("watch", "--once", index=index, env=env)
    assert again.returncode == 0 and f"warning: {url}: item 3: " in again.stderr, again.stderr
