"""robots.txt, read once per site and run, by the rules of RFC 9309: a robots.txt that does not
exist (4xx) allows everything; one that cannot be read (5xx, unreachable) disallows everything
for now; otherwise its rules for the token ``qa`` (else ``*``) decide, with its Crawl-delay."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser


class Robots:
    """``check(url)`` → (allowed, crawl delay or None, why not when robots.txt could not be
    read). ``fetch(robots_url)`` → (status, body, the failure when there was no answer)."""

    def __init__(self, token: str, fetch: Callable[[str], tuple[int | None, bytes, str | None]]):
        self.token = token
        self.fetch = fetch
        self._rules: dict[str, RobotFileParser] = {}
        self._unreadable: dict[str, str] = {}  # origin → why its robots.txt could not be read
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def check(self, url: str) -> tuple[bool, float | None, str | None]:
        rules = self._for(url)
        delay = rules.crawl_delay(self.token)
        return rules.can_fetch(self.token, url), float(delay) if delay else None, self._unreadable.get(_origin(url))

    def _for(self, url: str) -> RobotFileParser:
        origin = _origin(url)
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per site, however many threads ask
            rules = self._rules.get(origin)
            if rules is None:
                rules = self._rules[origin] = self._read(origin)
            return rules

    def _read(self, origin: str) -> RobotFileParser:
        status, body, failure = self.fetch(origin + "/robots.txt")
        rules = RobotFileParser(origin + "/robots.txt")
        if status == 200:
            rules.parse(body.decode("utf-8", errors="replace").splitlines())
        elif status is not None and 400 <= status < 500:
            rules.allow_all = True
        else:
            rules.disallow_all = True
            self._unreadable[origin] = failure or f"robots.txt unavailable (HTTP {status}); qa does not fetch the site now"
        rules.modified()
        return rules


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
