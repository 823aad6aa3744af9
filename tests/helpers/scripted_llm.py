"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1, for adversarial answer tests.

``POST /v1/chat/completions`` (plain and ``stream: true`` SSE). The test sets ``endpoint.script``
to a function of the prompt the endpoint received, returning a ``Script``: the reply's pieces,
a delay between pieces, an HTTP error status, or a connection dropped in the middle of a stream.
Every request body is kept in ``endpoint.requests``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    pieces: list[str]
    delay: float = 0.0  # seconds before each piece
    status: int = 200  # an error status answers {"error": …} instead
    error: str = ""  # that error's message (default "scripted STATUS")
    drop_after: int | None = None  # close the connection mid-body after this many pieces


def prompt_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def passage_number(prompt: str, needle: str) -> int:
    """The number of the passage whose text contains ``needle`` (either prompt format)."""
    at = prompt.index(needle)
    headers = list(re.finditer(r'^\[(\d+)\] |<passage n="(\d+)"', prompt[:at], re.M))
    m = headers[-1]
    return int(m.group(1) or m.group(2))


class ScriptedLLM:
    def __init__(self) -> None:
        self.script: Callable[[str], Script] = lambda prompt: Script(["I don't know."])
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                endpoint.requests.append(body)
                script = endpoint.script(prompt_text(body))
                if script.status != 200:
                    self._json(script.status, {"error": {"message": script.error or f"scripted {script.status}", "type": "scripted"}})
                elif body.get("stream"):
                    self._stream(body, script)
                else:
                    for _ in script.pieces:
                        time.sleep(script.delay)
                    try:
                        self._json(200, _completion(body, "".join(script.pieces)))
                    except OSError:  # the client gave up (timeout)
                        pass

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, data: str) -> None:
                raw = data.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                self.wfile.flush()

            def _stream(self, body: dict[str, Any], script: Script) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._chunk(_sse(_delta(body, {"role": "assistant", "content": ""})))
                for i, piece in enumerate(script.pieces):
                    if script.drop_after is not None and i >= script.drop_after:
                        self.wfile.write(b"ff\r\ndata: {\"trunc")  # half a chunk, then the socket closes
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    time.sleep(script.delay)
                    try:
                        self._chunk(_sse(_delta(body, {"content": piece})))
                    except OSError:  # the client gave up (deadline)
                        return
                self._chunk(_sse(_delta(body, {}, "stop")))
                self._chunk("data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _sse(payload: dict[str, Any] | str) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _delta(body: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "scripted-1", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    return {"id": "scripted-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": len(prompt_text(body).split()), "completion_tokens": len(content.split()),
                      "total_tokens": 0}}
