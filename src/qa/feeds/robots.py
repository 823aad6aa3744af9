"""robots.txt, read once per site and run, by the rules of RFC 9309: a robots.txt that does not
exist (4xx) allows everything; one that cannot be read (5xx, unreachable) disallows everything
for now; otherwise its rules for the token ``qa`` (else ``*``) decide, with its Crawl-delay."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser


class Robots:
    """``check(url)`` → (allowed, crawl delay or None). ``fetch(robots_url)`` → (status, body)."""

    def __init__(self, token: str, fetch: Callable[[str], tuple[int, bytes]]):
        self.token = token
        self.fetch = fetch
        self._rules: dict[str, RobotFileParser] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def check(self, url: str) -> tuple[bool, float | None]:
        rules = self._for(url)
        delay = rules.crawl_delay(self.token)
        return rules.can_fetch(self.token, url), float(delay) if delay else None

    def _for(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        with self._lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch per site, however many threads ask
            rules = self._rules.get(origin)
            if rules is None:
                rules = self._rules[origin] = self._read(origin + "/robots.txt")
            return rules

    def _read(self, robots_url: str) -> RobotFileParser:
        status, body = self.fetch(robots_url)
        rules = RobotFileParser(robots_url)
        if status == 200:
            rules.parse(body.decode("utf-8", errors="replace").splitlines())
        elif 400 <= status < 500:
            rules.allow_all = True
        else:
            rules.disallow_all = True
        rules.modified()
        return rules
