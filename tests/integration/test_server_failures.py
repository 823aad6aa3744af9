"""A Chroma server that stops answering or goes away mid-run: a real `chroma run` behind a TCP
relay that the test can make hang (bytes swallowed, the server never answers) or refuse (every
connection closed). qa must fail in one line within its timeout, lose nothing, and carry on once
the server answers again (tiny encoder: this is about the writer's and the replica's bookkeeping)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from qa.assistant import Assistant
from qa.errors import QAError
from qa.settings import Settings

pytestmark = pytest.mark.slow


class Relay:
    """127.0.0.1:port → the server; ``mode``: "forward", "hang" (accept, never answer), "refuse",
    "502" (a proxy's error page), "trickle" (the server's answers a byte every 0.5 s: every
    read gets something well within the timeout, the answer never ends), "fail:METHOD" (requests
    of that method get Chroma's own error answer, an InternalError; the rest are forwarded) or
    "prefix:/PATH" (a reverse proxy serving the server under /PATH: requests outside it get a 404)
    or "slowread" (requests are read at ~600 KB/s: every send makes progress, a big one takes a minute)."""

    def __init__(self, target: str):
        u = urlparse(target)
        self.target = (u.hostname or "127.0.0.1", u.port or 8000)
        self.mode = "forward"
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            if mode == "hang":  # kept-alive connections stay, and go silent (_pipe forwards nothing)
                return
            for s in self._socks:  # they end: the client's next request sees the new mode
                s.close()
            self._socks.clear()

    def _accept(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self.mode == "refuse":
                conn.close()
                continue
            if self.mode == "502":  # a proxy in front of a server that is down
                with self._lock:
                    self._socks.append(conn)
                threading.Thread(target=self._bad_gateway, args=(conn,), daemon=True).start()
                continue
            try:
                up = socket.create_connection(self.target)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._socks += [conn, up]
            threading.Thread(target=self._pipe, args=(conn, up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, conn, True), daemon=True).start()

    @staticmethod
    def _bad_gateway(conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        conn.close()

    @staticmethod
    def _unprefix(data: bytes, prefix: bytes, client: socket.socket, server: socket.socket) -> bytes:
        """Forward each whole request in ``data`` with ``prefix`` taken off its path (a 404 for
        one outside it); returns what is left of an incomplete one."""
        import re

        while (end := data.find(b"\r\n\r\n")) >= 0:
            head = data[: end + 4]
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            size = end + 4 + (int(length.group(1)) if length else 0)
            if len(data) < size:
                break
            request, data = data[:size], data[size:]
            method, _, rest = request.partition(b" ")
            if rest.startswith(prefix + b"/"):
                server.sendall(method + b" " + rest[len(prefix) :])
            else:
                client.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nNot Found")
        return data

    def _pipe(self, src: socket.socket, dst: socket.socket, answers: bool = False) -> None:
        pending = b""
        try:
            while data := src.recv(32768 if self.mode == "slowread" and not answers else 65536):
                if self.mode.startswith("fail:") and not answers and data.startswith(self.mode[5:].encode() + b" "):
                    body = b'{"error": "InternalError", "message": "disk full"}'
                    src.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                                b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                if self.mode.startswith("prefix:") and not answers:
                    pending = self._unprefix(pending + data, self.mode[7:].encode(), src, dst)
                    continue
                if self.mode == "trickle" and answers:
                    for i in range(len(data)):
                        dst.sendall(data[i : i + 1])
                        time.sleep(0.5)
                elif self.mode in ("forward", "trickle", "slowread") or self.mode.startswith(("fail:", "prefix:")):
                    dst.sendall(data)
                    if self.mode == "slowread" and not answers:
                        time.sleep(0.05)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


def _story(i: int) -> dict:
    return {"id": f"story-{i}", "title": f"Harbour ferry strike day {i}", "date": "2025-03-02",
            "text": f"The harbour ferry strike entered day {i}. Crews and the council met again on pay. " * 8}


def _fails_within(call, seconds: float, *words: str) -> None:
    t = time.monotonic()
    with pytest.raises(QAError) as e:
        call()
    took = time.monotonic() - t
    message = str(e.value)
    assert took < seconds, f"took {took:.1f} s: {message}"
    assert "\n" not in message and "Traceback" not in message, message
    for w in words:
        assert w in message, message


def test_a_server_that_stops_answering_or_goes_away_fails_in_one_line_and_loses_nothing(
    tmp_path: Path, chroma_server: str, tiny_encoder: Path
) -> None:
    from qa.index.replica import follow, sync

    relay = Relay(chroma_server)
    common = {"chroma_url": relay.url, "model": str(tiny_encoder), "chroma_timeout": 2}
    writer = Assistant(Settings(index=tmp_path / "writer", **common))
    writer.ingest_records([_story(0)])
    replica = Settings(index=tmp_path / "replica", **common)
    follow(replica, (tmp_path / "writer" / "INDEX_ID").read_text().strip())

    relay.set("hang")  # the server accepts, then never answers
    _fails_within(lambda: writer.ingest_records([_story(1)]), 30, relay.url, "did not answer within 2")
    _fails_within(lambda: sync(replica), 30, relay.url, "did not answer within 2")

    relay.set("trickle")  # answers that never end: each read is within the timeout, the request is not
    _fails_within(lambda: writer.ingest_records([_story(1)]), 30, relay.url, "did not answer within 2")
    _fails_within(lambda: sync(replica), 30, relay.url, "did not answer within 2")

    relay.set("refuse")  # the server is gone
    _fails_within(lambda: writer.ingest_records([_story(1)]), 30, relay.url)

    relay.set("502")  # a proxy answering for a server that is down
    _fails_within(lambda: writer.ingest_records([_story(1)]), 30, relay.url, "502 Bad Gateway")

    relay.set("forward")  # back: the next ingest and catch-up work, and nothing was lost
    writer.ingest_records([_story(1)])
    assert {d.doc_id for d in writer.documents()} == {"story-0", "story-1"}
    sync(replica)
    follower = Assistant(replica)
    assert {d.doc_id for d in follower.documents()} == {"story-0", "story-1"}
    follower.close()
    writer.close()


def test_a_request_the_server_reads_too_slowly_is_cut_off_at_the_timeout(chroma_server: str) -> None:
    """httpx bounds each send, and a big upsert is one write: a server (or proxy) that reads it
    slowly, making progress at every send, held the writer for as long as it took. The request's deadline covers its sending too."""
    import numpy as np

    from qa.index.chroma import http_client

    relay = Relay(chroma_server)
    client = http_client(relay.url, {}, 5)
    col = client.create_collection(f"slow-{time.time_ns()}", embedding_function=None)
    n = 4000  # ~40 MB: sent whole, ~60 s at this pace (each send waits less than the timeout)
    relay.set("slowread")
    _fails_within(lambda: col.upsert(ids=[f"r{i}" for i in range(n)], embeddings=np.ones((n, 2), dtype=np.float32),
                                     documents=["news " * 2000] * n), 20, relay.url, "did not answer within 5")
    relay.set("forward")
    client.delete_collection(col.name)


def test_a_server_error_is_not_taken_for_a_missing_collection(tmp_path: Path, chroma_server: str, tiny_encoder: Path) -> None:
    """A new epoch's collections are removed before it starts (a killed writer may have left
    them): a server that fails that delete failed nothing, and the run wrote into what was left.
    Only "not found" means not there; any other error of the server fails the run in one line,
    and the next run, with the server well, writes."""
    from qa.index.chroma import http_client
    from qa.index.shared import SharedIndex

    relay = Relay(chroma_server)
    writer = Assistant(Settings(index=tmp_path / "writer", chroma_url=relay.url, model=str(tiny_encoder), chroma_timeout=5))
    relay.set("fail:DELETE")
    _fails_within(lambda: writer.ingest_records([_story(0)]), 30, relay.url, "disk full")
    relay.set("fail:GET")  # a collection read that fails is not "the collection is gone"
    shared = SharedIndex(http_client(relay.url, {}, 5), "qa-test-")
    with pytest.raises(QAError, match="disk full") as e:
        shared.docs("gen-000001")
    assert "gone" not in str(e.value)
    relay.set("forward")
    writer.ingest_records([_story(0)])
    assert [d.doc_id for d in writer.documents()] == ["story-0"]
    writer.close()


def test_a_server_behind_a_path_prefix_is_reached_and_remembered(tmp_path: Path, chroma_server: str, tiny_encoder: Path) -> None:
    """A Chroma server behind a reverse proxy at https://host/chroma: the path is kept (chromadb
    sends each request under it), recorded by the writer's folder, and used by a replica."""
    from qa.index.replica import follow, sync

    relay = Relay(chroma_server)
    relay.set("prefix:/chroma")
    url = relay.url + "/chroma"
    writer = Assistant(Settings(index=tmp_path / "writer", chroma_url=url, model=str(tiny_encoder), chroma_timeout=10))
    writer.ingest_records([_story(0)])
    writer.close()
    again = Assistant(Settings(index=tmp_path / "writer", model=str(tiny_encoder)))  # the folder remembers its server
    again.ingest_records([_story(1)])
    assert {d.doc_id for d in again.documents()} == {"story-0", "story-1"}
    again.close()
    replica = Settings(index=tmp_path / "replica", chroma_url=url, model=str(tiny_encoder))
    follow(replica, (tmp_path / "writer" / "INDEX_ID").read_text().strip())
    sync(replica)
    follower = Assistant(Settings(index=tmp_path / "replica"))
    assert {d.doc_id for d in follower.documents()} == {"story-0", "story-1"}
    follower.close()


def test_one_client_per_server_and_headers_and_the_callers_headers_stay_as_given(chroma_server: str) -> None:
    """chromadb adds its own headers (Content-Type, User-Agent) to the dict it is given: it was
    the settings' own, so the next call's key differed and made another client (which chromadb
    keeps for the life of the process)."""
    from qa.index.chroma import http_client

    headers = {"X-Qa-Test": "1"}
    first = http_client(chroma_server, headers, 30)
    assert headers == {"X-Qa-Test": "1"}
    assert http_client(chroma_server, headers, 30) is first


def _ipv6_loopback() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_a_server_on_an_ipv6_address_is_reached(tmp_path: Path, tiny_encoder: Path) -> None:
    """``http://[::1]:PORT``: chromadb rebuilt the URL from the bare host and lost the brackets
    ("Invalid port: ':1:PORT'"), so no IPv6 server could be used."""
    import os
    import shutil
    import subprocess
    import sys

    from conftest import wait_until_up

    from qa.answer.llms import free_port

    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "data"), "--host", "::1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        url = f"http://[::1]:{port}"
        wait_until_up(f"{url}/api/v2/heartbeat", proc, timeout=60)
        writer = Assistant(Settings(index=tmp_path / "writer", chroma_url=url, model=str(tiny_encoder)))
        writer.ingest_records([_story(0)])
        assert [d.doc_id for d in writer.documents()] == ["story-0"]
        writer.close()
    finally:
        proc.kill()
        proc.wait()
