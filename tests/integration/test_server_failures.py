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
    """127.0.0.1:port → the server; ``mode``: "forward", "hang" (accept, never answer) or "refuse"."""

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
            threading.Thread(target=self._pipe, args=(up, conn), daemon=True).start()

    @staticmethod
    def _bad_gateway(conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        conn.close()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.mode == "forward":
                    dst.sendall(data)
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
