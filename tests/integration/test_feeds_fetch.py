"""qa's HTTP manners and limits against a real server on 127.0.0.1 (tests/helpers/news_server.py):
conditional GET, timeouts, bounded retries honouring Retry-After, redirect limits, size caps on the
wire and after decompression, content types, robots.txt, per-host delay, allowed hosts. Requests
are counted on the server side. Delays and timeouts are short settings, so this stays fast."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from news_server import Route, gzip_bomb  # noqa: E402

from qa.feeds.fetch import Fetcher, FetchError, Validators  # noqa: E402
from qa.settings import Settings  # noqa: E402

FAST = {"fetch_delay": 0.0, "fetch_timeout": 1.0, "fetch_backoff": 0.05, "fetch_retries": 1,
        "fetch_max_retry_after": 2.0, "fetch_max_bytes": 1_000_000}


@pytest.fixture
def server(news_server):
    return news_server


def fetcher(**overrides: object) -> Fetcher:
    return Fetcher(Settings(**{**FAST, **overrides}))


def failure(f: Fetcher, url: str) -> str:
    with pytest.raises(FetchError) as info:
        f.get(url)
    assert info.value.url == url
    return str(info.value)


def test_conditional_get_by_etag_and_by_last_modified(server):
    f = fetcher()
    first = f.get(server.url("/feeds/world.rss"))
    assert first.status == 200 and first.validators.etag and first.media_type == "application/rss+xml"
    assert f.get(server.url("/feeds/world.rss"), validators=first.validators).not_modified
    atom = f.get(server.url("/feeds/politics.atom"))
    assert atom.validators == Validators(None, "Sun, 09 Mar 2025 18:00:00 GMT")
    again = f.get(server.url("/feeds/politics.atom"), validators=atom.validators)
    assert again.status == 304 and again.body == b""
    assert any(ua.startswith("qa/") for ua in server.user_agents) and all("qa" in ua for ua in server.user_agents)


def test_slow_responses_time_out_after_bounded_retries(server):
    server.routes["/slow"] = Route(b"<html></html>", delay=3.0)
    server.routes["/dribble"] = Route(b"<html>" + b"x" * 200 + b"</html>", dribble=0.02)
    f = fetcher(fetch_timeout=0.5)
    started = time.monotonic()
    assert "timeout" in failure(f, server.url("/slow"))
    assert "timeout" in failure(f, server.url("/dribble"))  # headers quick, body never done in time
    assert server.hits["/slow"] == 2 and server.hits["/dribble"] == 2  # one retry each
    assert time.monotonic() - started < 6  # a trickling body is timed as it comes, not when it ends


def test_429_waits_for_retry_after_then_succeeds(server):
    route = Route(b"<html><p>ok</p></html>", script=[(429, {"Retry-After": "1"})])
    server.routes["/busy"] = route
    assert fetcher().get(server.url("/busy")).status == 200
    first, second = server.times["/busy"]
    assert server.hits["/busy"] == 2 and second - first >= 0.95  # honoured, though backoff is 0.05 s


def test_a_retry_after_longer_than_qa_waits_fails_at_once(server):
    server.routes["/later"] = Route(b"", script=[(503, {"Retry-After": "3600"})] * 3)
    message = failure(fetcher(), server.url("/later"))
    assert "HTTP 503 Service Unavailable" in message and "Retry-After 3600 s" in message
    assert server.hits["/later"] == 1


def test_500s_are_retried_a_bounded_number_of_times(server):
    server.routes["/down"] = Route(b"oops", "text/html", status=500)
    assert failure(fetcher(fetch_retries=2), server.url("/down")) == "HTTP 500 Internal Server Error (after 3 tries)"
    assert server.hits["/down"] == 3
    assert failure(fetcher(), server.url("/gone.html")) == "HTTP 404 Not Found"
    assert server.hits["/gone.html"] == 1  # a 404 is not retried


def test_redirects_are_followed_with_a_limit_and_loops_named(server):
    server.redirect("/loop/a", "/loop/b")
    server.redirect("/loop/b", "/loop/a")
    assert "redirect loop" in failure(fetcher(), server.url("/loop/a"))
    assert server.hits["/loop/a"] == 1 and server.hits["/loop/b"] == 1
    for i in range(4):
        server.redirect(f"/hop/{i}", f"/hop/{i + 1}")
    server.redirect("/hop/4", "/world/dam-talks.html", status=301)
    assert fetcher(fetch_max_redirects=5).get(server.url("/hop/0")).final_url == server.url("/world/dam-talks.html")
    assert failure(fetcher(fetch_max_redirects=3), server.url("/hop/0")) == "too many redirects (more than 3)"
    server.redirect("/to-file", "file:///etc/passwd")
    assert "redirected to file:///etc/passwd: only http(s)" in failure(fetcher(), server.url("/to-file"))


def test_a_gzip_bomb_is_refused_after_a_bounded_read(server):
    bomb = gzip_bomb(200_000_000)  # 200 MB of zeros in ~200 KB
    server.routes["/bomb.xml"] = Route(bomb, "application/xml", gzip=True)
    started = time.monotonic()
    message = failure(fetcher(fetch_max_bytes=1_000_000), server.url("/bomb.xml"))
    assert message == "too large: more than 1,000,000 bytes after decompression"
    assert time.monotonic() - started < 5  # stopped early, not after inflating 200 MB
    server.routes["/big.html"] = Route(b"<html>" + b"x" * 2_000_000 + b"</html>")
    assert failure(fetcher(), server.url("/big.html")) == "too large: 2,000,013 bytes (limit 1,000,000)"


def test_only_html_xml_and_json_feeds_are_read(server):
    server.routes["/logo.png"] = Route(b"\x89PNG\r\n", "image/png")
    assert failure(fetcher(), server.url("/logo.png")) == "wrong content type image/png (qa reads HTML, XML, JSON feeds)"
    assert "only http(s) URLs are fetched, not ftp:" in failure(fetcher(), "ftp://127.0.0.1/feed.xml")


def test_robots_txt_is_obeyed_unless_turned_off(server):
    assert failure(fetcher(), server.url("/private/memo.html")) == "robots.txt disallows qa here"
    assert server.hits["/private/memo.html"] == 0
    assert fetcher(fetch_robots=False).get(server.url("/private/memo.html")).status == 200
    f = fetcher()
    f.get(server.url("/world/dam-talks.html"))
    f.get(server.url("/world/harbour-bridge.html"))
    assert server.hits["/robots.txt"] == 2  # once per fetcher (run), whatever the number of pages


def test_unreachable_hosts_fail_with_their_reason():
    message = failure(fetcher(fetch_retries=0), "http://127.0.0.1:9/feed.xml")
    assert message.startswith("cannot connect to 127.0.0.1:9: ") and "refused" in message
    assert failure(fetcher(fetch_retries=0), "http://qa-test.invalid/feed.xml") == "DNS lookup failed for qa-test.invalid"


def test_one_host_gets_its_turns_with_a_delay(server):
    f = fetcher(fetch_delay=0.3, fetch_robots=False)
    for _ in range(3):
        f.get(server.url("/world/dam-talks.html"))
    times = server.times["/world/dam-talks.html"]
    assert all(b - a >= 0.28 for a, b in zip(times, times[1:])), times


def test_only_allowed_hosts_are_fetched_on_every_hop(server):
    port = server.base.rsplit(":", 1)[1]
    f = Fetcher(Settings(**FAST), hosts=[f"localhost:{port}"])
    assert failure(f, server.url("/feeds/world.rss")) == "host 127.0.0.1 is not in the hosts this server may fetch from"
    assert server.hits["/feeds/world.rss"] == 0
    server.redirect("/away", server.url("/feeds/world.rss"))
    message = failure(f, f"http://localhost:{port}/away")
    assert message.startswith("redirected to http://127.0.0.1") and "not in the hosts" in message
    assert server.hits["/feeds/world.rss"] == 0


def test_an_allowed_host_is_fetched_on_its_web_port_only(server):
    """An entry of the allow-list opened every port of its host: a name listed for its news pages
    let a request reach whatever else listens there (an admin port, a database's HTTP port). A
    bare name allows the scheme's own port; "host:port" allows that port."""
    port = server.base.rsplit(":", 1)[1]
    bare = Fetcher(Settings(**FAST), hosts=["127.0.0.1"])
    assert failure(bare, server.url("/feeds/world.rss")) == f"port {port} of 127.0.0.1 is not in the hosts this server may fetch from"
    assert server.hits["/feeds/world.rss"] == 0
    named = Fetcher(Settings(**FAST), hosts=[f"127.0.0.1:{port}"])
    assert named.get(server.url("/feeds/world.rss")).status == 200
    other = Fetcher(Settings(**FAST), hosts=["127.0.0.1:1"])
    assert "is not in the hosts" in failure(other, server.url("/feeds/world.rss"))


@pytest.mark.parametrize("trick", ["\\@", "\\\\@", "%5C@", "@"])
def test_a_url_read_as_another_host_by_the_http_library_is_refused(server, trick):
    """The allow-list read the host with Python's urlsplit (the part after "@": an allowed name);
    urllib3 sent the request to the part before the backslash (127.0.0.1 here): any internal
    host and port. A URL with a user part or a backslash is refused before any request."""
    f = Fetcher(Settings(**FAST), hosts=["news.example.org"])
    hostport = server.base.split("://", 1)[1]
    message = failure(f, f"http://{hostport}{trick}news.example.org/feeds/world.rss")
    assert "news.example.org" not in message or "not" in message
    assert sum(server.hits.values()) == 0, "nothing reached the internal server"
