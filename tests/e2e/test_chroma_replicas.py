"""One writer and replicas on other folders (standing in for other machines) sharing an index on
a real `chroma run` server: what the writer publishes reaches every replica, what a killed writer
half-wrote reaches none, and a replica started empty (or fallen behind) catches up."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import SAMPLES, qa_executable, run_json, run_qa, wait_until_up

from qa.answer.llms import free_port
from qa.checkpoints import MARKER, PAUSE_AT, PAUSE_SECONDS

pytestmark = pytest.mark.slow

FERRY = {"id": "ferry-1", "title": "Ferry strike ends", "date": "2025-03-09",
         "text": "The ferry strike ended on Monday after the union accepted a pay offer of 4 percent."}
BRIDGE = {"id": "bridge-1", "title": "Old bridge closes for repairs", "date": "2025-03-09",
          "text": "The old stone bridge over the Varna canal closed for eight months of repairs on Sunday."}
QUARRY = {"id": "quarry-1", "title": "Quarry expansion rejected", "date": "2025-03-09",
          "text": "The regional board rejected the granite quarry's expansion after hearing residents of Tolv."}


def _jsonl(path: Path, *records: dict) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _top_ids(port: int, query: str) -> list[str]:
    return [r["doc_id"] for r in _post(f"http://127.0.0.1:{port}/search", {"query": query, "k": 3})["results"]]


def _eventually(check, timeout: float = 20.0) -> float:
    """Seconds until ``check()`` holds; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - start


def _kill_writer_at(stage: str, records: Path | None, writer: Path, url: str, tmp_path: Path, **env_extra: str) -> None:
    """SIGKILL `qa ingest RECORDS` (`qa index rebuild` when None) paused at ``stage``."""
    marker = tmp_path / f"paused-{stage}"
    env = {**os.environ, PAUSE_AT: stage, MARKER: str(marker), PAUSE_SECONDS: "300", **env_extra}
    env.pop("QA_INDEX", None)
    command = ["ingest", str(records)] if records is not None else ["index", "rebuild"]
    proc = subprocess.Popen([qa_executable(), *command, "--chroma-url", url, "--index", str(writer)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _eventually(lambda: marker.exists() or proc.poll() is not None, timeout=120)
        assert marker.exists(), f"writer exited {proc.returncode} before {stage}: {proc.stderr.read()[-800:] if proc.stderr else ''}"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def replicas(tmp_path: Path, chroma_server: str):
    """A writer index with the samples, two replicas following it, each served by `qa serve`."""
    writer = tmp_path / "writer"
    run_json("ingest", str(SAMPLES), "--chroma-url", chroma_server, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    procs, ports = [], []
    for name in ("r1", "r2"):
        follow = run_json("index", "follow", index_id, "--chroma-url", chroma_server, index=tmp_path / name)
        assert follow["full"] and follow["documents"] == 6
        port = free_port()
        env = {**os.environ, "QA_REPLICA_POLL_SECONDS": "0.5"}
        env.pop("QA_INDEX", None)
        procs.append(subprocess.Popen([qa_executable(), "serve", "--port", str(port), "--index", str(tmp_path / name)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports.append(port)
    for proc, port in zip(procs, ports):
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, timeout=120)
    yield writer, index_id, ports
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def test_replicas_pick_up_a_publish_and_never_a_killed_writers_rows(replicas, tmp_path: Path, chroma_server: str) -> None:
    writer, _, ports = replicas
    remote = ["--chroma-url", chroma_server]
    run_json("ingest", str(_jsonl(tmp_path / "ferry.jsonl", FERRY)), *remote, index=writer)
    for port in ports:  # served without a restart, within the 5 s
        waited = _eventually(lambda p=port: _top_ids(p, "ferry strike pay offer")[0] == "ferry-1")
        assert waited < 5.0 + 1.0

    # killed after its chunks and documents are on the server, before it publishes
    _kill_writer_at("catalog-committed", _jsonl(tmp_path / "bridge.jsonl", BRIDGE), writer, chroma_server, tmp_path)
    time.sleep(2.0)  # four polls
    for port in ports:
        assert "bridge-1" not in _top_ids(port, "stone bridge canal repairs")
        assert _top_ids(port, "ferry strike pay offer")[0] == "ferry-1"  # still serving
    # killed after its local publish, before it told the server: replicas stay on the old version...
    _kill_writer_at("after-publish", _jsonl(tmp_path / "quarry.jsonl", QUARRY), writer, chroma_server, tmp_path)
    time.sleep(2.0)
    for port in ports:
        assert "quarry-1" not in _top_ids(port, "granite quarry expansion Tolv")
    # ...until the next writer (here one with nothing new to write) announces it. The bridge rows
    # the first killed writer left carry the very version the quarry ingest then published: they
    # were discarded, so they never show, and a rerun of that ingest lands
    assert run_json("ingest", str(tmp_path / "ferry.jsonl"), *remote, index=writer)["unchanged"] == 1
    for port in ports:
        _eventually(lambda p=port: _top_ids(p, "granite quarry expansion Tolv")[0] == "quarry-1")
        assert "bridge-1" not in _top_ids(port, "stone bridge canal repairs")
    run_json("ingest", str(tmp_path / "bridge.jsonl"), *remote, index=writer)
    for port in ports:
        _eventually(lambda p=port: _top_ids(p, "stone bridge canal repairs")[0] == "bridge-1")
    status = [json.loads(urllib.request.urlopen(f"http://127.0.0.1:{p}/healthz", timeout=10).read()) for p in ports]
    assert [s["documents"] for s in status] == [9, 9]


def _view(index: Path) -> tuple:
    """What a user of ``index`` sees: its documents, and the hits of a few searches."""
    docs = sorted((d["doc_id"], d["chunks"], d["title"]) for d in run_json("index", "ls", index=index)["documents"])
    hits = [[(r["doc_id"], r["chunk_id"], r["text"]) for r in run_json("search", q, index=index)["results"]]
            for q in ("ferry strike pay offer", "tram line cost", "storm gusts coast")]
    return docs, hits


def _live_chunks(index: Path) -> tuple[int, int]:
    """(chunks the catalog counts, live rows of the exact-search matrix) of the published generation."""
    from qa.index.catalog import Catalog
    from qa.index.dense import DenseIndex
    from qa.index.generations import Generations

    gen = Generations(index).current()
    assert gen is not None
    cat = Catalog(gen)
    try:
        return cat.counts()[1], len(DenseIndex(gen))
    finally:
        cat.close()


def test_an_article_changed_and_changed_back_in_a_killed_run_is_not_lost(tmp_path: Path, chroma_server: str) -> None:
    """A run that rewrites a published article's rows (changed, then changed back) and is killed
    before publishing leaves that article as published, on the writer and on replicas."""
    writer, remote = tmp_path / "writer", ["--chroma-url", chroma_server]
    ferry = _jsonl(tmp_path / "ferry.jsonl", FERRY)
    run_json("ingest", str(ferry), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    changed = {**FERRY, "text": FERRY["text"].replace("4 percent", "5 percent")}
    twice = _jsonl(tmp_path / "twice.jsonl", changed, FERRY)
    _kill_writer_at("before-publish", twice, writer, chroma_server, tmp_path, QA_WRITE_BATCH_CHUNKS="1")
    assert run_json("ingest", str(ferry), *remote, index=writer)["unchanged"] == 1
    run_json("index", "follow", index_id, *remote, index=tmp_path / "replica")
    for index in (writer, tmp_path / "replica"):
        hits = run_json("search", "ferry strike pay offer", index=index)["results"]
        assert hits and hits[0]["doc_id"] == "ferry-1" and "4 percent" in hits[0]["text"], index.name


def test_a_killed_rebuild_leaves_nothing_in_the_next_one(tmp_path: Path, chroma_server: str) -> None:
    """A rebuild starts a new collection named after its generation; one killed before its
    publish (here with other chunking) leaves rows the retried rebuild must not inherit."""
    writer, remote = tmp_path / "writer", ["--chroma-url", chroma_server]
    run_json("ingest", str(SAMPLES), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    _kill_writer_at("before-publish", None, writer, chroma_server, tmp_path, QA_CHUNK_CHARS="200")
    run_json("index", "rebuild", *remote, index=writer)
    run_json("index", "follow", index_id, *remote, index=tmp_path / "replica")
    counted, live = _live_chunks(writer)
    assert counted == live == 6
    assert _live_chunks(tmp_path / "replica") == (6, 6)
    assert _view(tmp_path / "replica") == _view(writer)


def test_an_index_from_an_older_qa_moves_into_the_shared_layout(tmp_path: Path, chroma_server: str) -> None:
    """An older qa kept one collection per generation, unstamped, with chunk ids from the
    document id alone (no search indexes of its own either). Its first write moves it into the
    shared layout, keeping the recorded keys: a later removal reaches the replicas too."""
    import chromadb

    from qa.index.catalog import Catalog
    from qa.index.shared import ADDED, DELETED, EPOCH_KEY, URL_KEY, VERSION_KEY
    from qa.types import short_hash

    writer, remote = tmp_path / "writer", ["--chroma-url", chroma_server]
    run_json("ingest", str(SAMPLES), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    # turn it into what an older qa wrote
    gen = writer / "gen-000001"
    cat = Catalog(gen, writable=True)
    renamed = {}
    for doc_id, key in cat.db.execute("SELECT doc_id, key FROM documents").fetchall():
        renamed[key] = short_hash(doc_id)
        cat.db.execute("UPDATE documents SET key=? WHERE doc_id=?", (short_hash(doc_id), doc_id))
    cat.db.execute("DELETE FROM meta WHERE key IN (?, ?, ?)", (EPOCH_KEY, VERSION_KEY, URL_KEY))
    cat.commit()
    cat.close()
    for folder in ("dense", "bm25"):
        shutil.rmtree(gen / folder)
    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_server.rsplit(":", 1)[1]))
    name = f"articles-{index_id}-gen-000001"
    rows = client.get_collection(name).get(include=["documents", "metadatas", "embeddings"])
    for col in client.list_collections():
        if index_id in col.name:
            client.delete_collection(col.name)
    from qa.embeddings import chroma_embedding_function

    model = run_json("index", "stats", index=writer)["model"]
    legacy = client.create_collection(name, embedding_function=chroma_embedding_function(model),
                                      configuration={"hnsw": {"space": "cosine"}}, metadata={"qa:model": model})
    ids = [renamed[i.rsplit("-", 1)[0]] + "-" + i.rsplit("-", 1)[1] for i in rows["ids"]]
    metas = [{k: v for k, v in m.items() if k not in (ADDED, DELETED)} for m in rows["metadatas"]]
    legacy.add(ids=ids, documents=rows["documents"], metadatas=metas, embeddings=rows["embeddings"])

    assert run_json("index", "rm", "wire-2025-0301-storm", *remote, index=writer)["removed"] == ["wire-2025-0301-storm"]
    run_json("index", "follow", index_id, *remote, index=tmp_path / "replica")
    assert len(run_json("index", "ls", index=writer)["documents"]) == 5
    assert _view(tmp_path / "replica") == _view(writer)
    assert _live_chunks(writer) == _live_chunks(tmp_path / "replica") == (5, 5)


def test_a_replica_started_empty_or_fallen_behind_matches_the_writer(tmp_path: Path, chroma_server: str) -> None:
    writer = tmp_path / "writer"
    remote = ["--chroma-url", chroma_server]
    run_json("ingest", str(SAMPLES), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    steady = tmp_path / "steady"  # follows every version: catches up incrementally
    assert run_json("index", "follow", index_id, *remote, index=steady)["full"]
    ferry = _jsonl(tmp_path / "ferry.jsonl", FERRY)
    for pay in ("4 percent", "5 percent", "6 percent"):
        ferry.write_text(ferry.read_text().replace("4 percent", pay))
        run_json("ingest", str(ferry), *remote, index=writer)
        step = run_json("index", "follow", index_id, *remote, index=steady)
        assert not step["full"]
        ferry.write_text(json.dumps(FERRY) + "\n")
    run_json("index", "rm", "https://gazette.example/local/riverside-tram-approved", *remote, index=writer)
    assert not run_json("index", "follow", index_id, *remote, index=steady)["full"]
    fresh = run_json("index", "follow", index_id, *remote, index=tmp_path / "fresh")  # started empty
    assert fresh["full"]

    want = _view(writer)
    assert len(want[0]) == 6 and "6 percent" in want[1][0][0][2]
    assert _view(steady) == want
    assert _view(tmp_path / "fresh") == want
    # a replica refuses writes, with the reason, and loses nothing
    res = run_qa("ingest", str(ferry), index=steady)
    assert res.returncode == 2 and "replica" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_changed_article_never_overwrites_what_a_kept_generation_shows(tmp_path: Path, chroma_server: str) -> None:
    """Content-addressed chunk ids: the writer's previous generation (kept for its readers) still
    reads its own text from the shared collection after the article changed."""
    from qa.index.generations import Generations
    from qa.index.reader import IndexReader
    from qa.settings import Settings

    writer = tmp_path / "writer"
    remote = ["--chroma-url", chroma_server]
    ferry = _jsonl(tmp_path / "ferry.jsonl", FERRY)
    run_json("ingest", str(ferry), *remote, index=writer)
    ferry.write_text(ferry.read_text().replace("4 percent", "5 percent"))
    run_json("ingest", str(ferry), *remote, index=writer)
    old, new = Generations(writer).all()[-2:]
    settings = Settings(index=writer, chroma_url=chroma_server)
    reader = IndexReader(settings)
    try:
        reader.gen = old  # as a reader that opened before the update sees it
        from qa.index.catalog import Catalog

        reader.catalog = Catalog(old)
        ids = [c for c, alive in zip(reader.dense.ids, reader.dense.alive) if alive]
        texts = [t for _, t, _ in reader.vectors.texts(ids)]
        assert texts and all("4 percent" in t for t in texts)
    finally:
        reader.close()
    assert new.name > old.name


def test_a_removed_article_written_again_by_a_killed_run_stays_removed(tmp_path: Path, chroma_server: str) -> None:
    """Removed at version 2, ingested again (same text) by a run killed before its publish: a
    replica still at version 1 catches up to 2 without it, and the writer does not show it."""
    writer, remote = tmp_path / "writer", ["--chroma-url", chroma_server]
    ferry = _jsonl(tmp_path / "ferry.jsonl", FERRY)
    run_json("ingest", str(SAMPLES), *remote, index=writer)
    run_json("ingest", str(ferry), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    replica = tmp_path / "replica"
    run_json("index", "follow", index_id, *remote, index=replica)  # at the version with the ferry story
    run_json("index", "rm", "ferry-1", *remote, index=writer)
    _kill_writer_at("before-publish", ferry, writer, chroma_server, tmp_path)
    step = run_json("index", "follow", index_id, *remote, index=replica)
    assert not step["full"] and step["documents"] == 6
    for index in (writer, replica):
        assert "ferry-1" not in {d["doc_id"] for d in run_json("index", "ls", index=index)["documents"]}
        assert "ferry-1" not in [r["doc_id"] for r in run_json("search", "ferry strike pay offer", index=index)["results"]]


def test_an_empty_rebuild_and_a_second_writer_are_handled(tmp_path: Path, chroma_server: str) -> None:
    """A rebuild of an index with no document still leaves a working index; a folder that is not
    a replica is never turned into one; a copy of the writer's folder that writes is refused by
    the original afterwards (one writer per index)."""
    writer, remote = tmp_path / "writer", ["--chroma-url", chroma_server]
    ferry = _jsonl(tmp_path / "ferry.jsonl", FERRY)
    run_json("ingest", str(ferry), *remote, index=writer)
    run_json("index", "rm", "ferry-1", *remote, index=writer)
    run_json("index", "rebuild", *remote, index=writer)
    assert run_json("ingest", str(ferry), *remote, index=writer)["added"] == 1
    index_id = run_json("index", "stats", index=writer)["index_id"]
    res = run_qa("index", "follow", index_id, *remote, index=writer)
    assert res.returncode == 2 and "writer's index" in res.stderr
    half = tmp_path / "half"  # a first ingest killed before its publish leaves INDEX_ID only
    half.mkdir()
    (half / "INDEX_ID").write_text("0123456789ab\n")
    res = run_qa("index", "follow", index_id, *remote, index=half)
    assert res.returncode == 2 and "writer's index" in res.stderr
    assert (half / "INDEX_ID").read_text() == "0123456789ab\n"
    copy = tmp_path / "copy"
    shutil.copytree(writer, copy)
    run_json("ingest", str(_jsonl(tmp_path / "bridge.jsonl", BRIDGE)), *remote, index=copy)
    res = run_qa("ingest", str(_jsonl(tmp_path / "quarry.jsonl", QUARRY)), *remote, index=writer)
    assert res.returncode == 2 and "one writer" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_moved_server_is_recorded_and_a_corrupt_marker_is_a_one_line_error(tmp_path: Path, chroma_server: str) -> None:
    """Two fixes the review found, tested: following again at the server's new address records it
    (marker and catalog, kept by later catch-ups), and a damaged REPLICA marker is a one-line usage error
    naming the file, for every command, not a traceback."""
    writer, replica = tmp_path / "writer", tmp_path / "replica"
    run_json("ingest", str(_jsonl(tmp_path / "a.jsonl", FERRY)), "--chroma-url", chroma_server, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    run_json("index", "follow", index_id, "--chroma-url", chroma_server, index=replica)
    assert run_json("index", "stats", index=replica)["chroma_url"] == chroma_server
    moved = chroma_server.replace("127.0.0.1", "localhost")
    assert moved != chroma_server
    again = run_json("index", "follow", index_id, "--chroma-url", moved, index=replica)
    assert again["documents"] == 1
    stats = run_json("index", "stats", index=replica)
    assert stats["chroma_url"] == moved and stats["replica"] is True
    assert json.loads((replica / "REPLICA").read_text())["chroma_url"] == moved
    # a later catch-up without --chroma-url keeps the recorded address
    run_json("ingest", str(_jsonl(tmp_path / "b.jsonl", BRIDGE)), index=writer)
    assert run_json("index", "follow", index_id, index=replica)["documents"] == 2
    assert run_json("index", "stats", index=replica)["chroma_url"] == moved

    (replica / "REPLICA").write_text("{not json")
    # reading needs no marker (the index records its server) ...
    assert run_json("search", "ferry strike", index=replica)["results"][0]["doc_id"] == "ferry-1"
    # ... but whatever asks what the folder follows, or would write to it, says what is wrong
    for args in (("index", "stats"), ("index", "follow", index_id), ("ingest", str(tmp_path / "a.jsonl")),
                 ("serve", "--port", str(free_port()))):
        res = run_qa(*args, index=replica)
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert res.returncode == 2, (args, res.returncode, res.stderr)
        assert len(lines) == 1 and "REPLICA" in lines[0] and "not a replica marker" in lines[0], res.stderr
        assert "Traceback" not in res.stderr


def test_a_replica_answers_from_its_own_files_while_the_server_is_down(tmp_path: Path) -> None:
    """A replica keeps each chunk's text with its search indexes: its questions never read the
    server, so they are answered while it is down (catching up waits for it). A replica an older
    qa built (no texts kept) is rebuilt by its next catch-up, even when up to date."""
    from qa.index import dense
    from qa.index.generations import Generations

    exe = Path(shutil.which("chroma") or Path(os.sys.executable).parent / "chroma")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(exe), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        wait_until_up(f"{url}/api/v2/heartbeat", server, timeout=60)
        writer, replica = tmp_path / "writer", tmp_path / "replica"
        run_json("ingest", str(_jsonl(tmp_path / "a.jsonl", FERRY, BRIDGE)), "--chroma-url", url, index=writer)
        index_id = run_json("index", "stats", index=writer)["index_id"]
        run_json("index", "follow", index_id, "--chroma-url", url, index=replica)
        gen = Generations(replica).current()
        assert gen is not None and dense.has_rows(gen)
        for f in (gen / dense.DENSE_DIR).glob("*.rows.*"):  # as an older qa's replica
            f.unlink()
        run_json("index", "follow", index_id, index=replica)  # up to date, but rebuilt with the texts
        gen = Generations(replica).current()
        assert gen is not None and dense.has_rows(gen)
    finally:
        server.kill()
        server.wait()
    found = run_json("search", "When did the ferry strike end?", index=replica)["results"]
    assert found[0]["doc_id"] == "ferry-1" and "pay offer" in found[0]["text"]
    res = run_qa("index", "follow", index_id, index=replica)
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1


def _refused(res: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """The command failed with exit ``code`` and one line of error naming every ``needle``."""
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and all(n in lines[0] for n in needles), res.stderr


def test_a_copy_of_the_writers_folder_is_refused_before_it_touches_the_server(tmp_path: Path, chroma_server: str) -> None:
    """An index has one writer. A stale copy of its folder, ingesting after the real writer
    published, is refused with a usage error, and before it writes anything: the rows the real
    writer published (newer than the copy's version, so "unpublished" to the copy) stay served."""
    writer, copy, remote = tmp_path / "writer", tmp_path / "copy", ["--chroma-url", chroma_server]
    run_json("ingest", str(_jsonl(tmp_path / "ferry.jsonl", FERRY)), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    shutil.copytree(writer, copy)
    run_json("ingest", str(_jsonl(tmp_path / "bridge.jsonl", BRIDGE)), *remote, index=writer)
    res = run_qa("ingest", str(_jsonl(tmp_path / "quarry.jsonl", QUARRY)), *remote, index=copy)
    _refused(res, 2, "another writer")
    run_json("index", "follow", index_id, *remote, index=tmp_path / "replica")
    for index in (writer, tmp_path / "replica"):
        assert run_json("search", "stone bridge canal repairs", index=index)["results"][0]["doc_id"] == "bridge-1", index.name
        assert "quarry-1" not in [r["doc_id"] for r in run_json("search", "granite quarry expansion Tolv", index=index)["results"]]


def test_an_ingest_to_an_unreachable_server_fails_in_one_line_and_publishes_nothing(tmp_path: Path) -> None:
    """The writer meets the server only at its first write (its client is made on a thread while
    the first batch is encoded); a server that is not there is still one clear error, exit 1."""
    dead = f"http://127.0.0.1:{free_port()}"
    res = run_qa("ingest", str(_jsonl(tmp_path / "ferry.jsonl", FERRY)), "--chroma-url", dead, index=tmp_path / "writer")
    _refused(res, 1, "not reachable", dead)
    assert not (tmp_path / "writer" / "CURRENT").exists()


def test_an_unreachable_server_stops_the_ingest_before_its_batch_is_encoded(tmp_path: Path) -> None:
    """The store opens on a thread while the first batch is encoded; a server that is not there
    stops the run at the next slice of the encoding, not after the whole batch (up to 512
    chunks, ~20 s): the batch never reaches its "embedded" stage."""
    dead = f"http://127.0.0.1:{free_port()}"
    words = "harbour council ferry bridge budget strike tram school hospital election river storm port depot".split()
    rows = []
    for i in range(30):  # ~180 chunks of distinct text (no near-duplicates)
        rng = random.Random(i)
        text = " ".join(" ".join(rng.sample(words, 10)).capitalize() + f" {i}-{j}-{rng.randrange(10**6)}." for j in range(90))
        rows.append({"id": f"long-{i}", "title": f"Council meeting {i}", "date": "2025-03-02", "text": text})
    marker = tmp_path / "paused"
    res = run_qa("ingest", str(_jsonl(tmp_path / "many.jsonl", *rows)), "--chroma-url", dead, index=tmp_path / "writer",
                 env={PAUSE_AT: "batch-embedded", MARKER: str(marker), PAUSE_SECONDS: "1"})
    _refused(res, 1, "not reachable", dead)
    assert not marker.exists()


def test_an_ingest_to_a_server_that_never_answers_fails_in_one_line_within_the_timeout(tmp_path: Path) -> None:
    """A server that accepts connections and never answers (hung, or a firewall that drops
    replies) fails the ingest after QA_CHROMA_TIMEOUT, one line, exit 1: it used to hang for good."""
    hung = socket.create_server(("127.0.0.1", 0))  # listens, never accepts: connects, then silence
    url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    try:
        t = time.monotonic()
        res = run_qa("ingest", str(_jsonl(tmp_path / "ferry.jsonl", FERRY)), "--chroma-url", url, index=tmp_path / "writer",
                     env={"QA_CHROMA_TIMEOUT": "2"}, timeout=120)
        took = time.monotonic() - t
    finally:
        hung.close()
    _refused(res, 1, url, "did not answer within 2 s")
    assert took < 60, took
    assert not (tmp_path / "writer" / "CURRENT").exists()


def test_a_folder_with_only_the_writers_index_id_cannot_overwrite_the_served_index(tmp_path: Path, chroma_server: str) -> None:
    """A folder holding the writer's INDEX_ID but none of its generations (a partial copy, a
    restored backup) would start the index's first epoch again on the server, clearing the one
    the real writer publishes. It is refused, exit 2, before anything reaches the server."""
    writer, stray, remote = tmp_path / "writer", tmp_path / "stray", ["--chroma-url", chroma_server]
    run_json("ingest", str(_jsonl(tmp_path / "ferry.jsonl", FERRY)), *remote, index=writer)
    index_id = run_json("index", "stats", index=writer)["index_id"]
    stray.mkdir()
    shutil.copy(writer / "INDEX_ID", stray / "INDEX_ID")
    res = run_qa("ingest", str(_jsonl(tmp_path / "bridge.jsonl", BRIDGE)), *remote, index=stray)
    _refused(res, 2, "already holds", index_id)
    run_json("index", "follow", index_id, *remote, index=tmp_path / "replica")
    for index in (writer, tmp_path / "replica"):
        assert run_json("search", "ferry strike pay offer", index=index)["results"][0]["doc_id"] == "ferry-1", index.name


@pytest.mark.parametrize("url", ["htp://127.0.0.1:8000", "http://127.0.0.1:port", "127.0.0.1:8000", "http://[::1:8000"])
def test_a_malformed_chroma_url_is_a_usage_error_naming_it(tmp_path: Path, url: str) -> None:
    res = run_qa("ingest", str(_jsonl(tmp_path / "ferry.jsonl", FERRY)), "--chroma-url", url, index=tmp_path / "writer")
    _refused(res, 2, url, "http(s)://host:port")
    assert not (tmp_path / "writer" / "CURRENT").exists()
