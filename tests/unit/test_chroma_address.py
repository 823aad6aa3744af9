"""The one rule for a Chroma server URL (--chroma-url / QA_CHROMA_URL)."""

from __future__ import annotations

import pytest

from qa.errors import UsageError
from qa.index.server_url import chroma_address


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8000", ("127.0.0.1", 8000, False, "")),
        ("http://chroma.internal", ("chroma.internal", 8000, False, "")),
        ("https://chroma.example.org", ("chroma.example.org", 443, True, "")),
        ("https://chroma.example.org:9443/", ("chroma.example.org", 9443, True, "")),
        ("https://example.org/chroma/", ("example.org", 443, True, "/chroma")),
        ("http://[::1]:8000/a/b", ("::1", 8000, False, "/a/b")),
    ],
)
def test_a_server_url_gives_host_port_scheme_and_path(url: str, address: tuple[str, int, bool, str]) -> None:
    assert chroma_address(url) == address


@pytest.mark.parametrize(("url", "given"), [
    ("http://chroma.internal", "http://chroma.internal:8000"), ("https://example.org/chroma/", "https://example.org:443/chroma"),
    ("http://[::1]:9000", "http://[::1]:9000"),
])
def test_chromadb_is_given_the_port_qa_chose_and_the_path(url: str, given: str) -> None:
    """A full URL is how chromadb keeps a path and an IPv6 host's brackets; it must carry the port
    qa's rule chose (8000 for http without one: chromadb's own default for a URL would be 80)."""
    assert chroma_address(url).url() == given


@pytest.mark.parametrize("url", ["htp://h:1", "h:8000", "http://h:port", "http://[::1:8000", "http://", "", "http://h:0"])
def test_a_malformed_url_is_a_usage_error_naming_it(url: str) -> None:
    with pytest.raises(UsageError, match="is not an http"):
        chroma_address(url)


def test_credentials_in_the_url_are_refused_without_being_shown() -> None:
    """chromadb never sends a URL's user and password; an error quoting the URL would print the
    password to the terminal or a log. Auth goes in QA_CHROMA_HEADERS."""
    with pytest.raises(UsageError) as refused:
        chroma_address("https://admin:s3cret-token@chroma.example.org")
    message = str(refused.value)
    assert "s3cret-token" not in message and "QA_CHROMA_HEADERS" in message


@pytest.mark.parametrize("url", ["http://h:8000?tenant=x", "http://h:8000/#top", "https://example.org/chroma?x=1"])
def test_a_query_or_fragment_is_refused_not_dropped(url: str) -> None:
    """chromadb would drop them: refused, not silently ignored."""
    with pytest.raises(UsageError, match="without a query or fragment"):
        chroma_address(url)


@pytest.mark.parametrize(("recorded", "used"), [
    ("http://h:8000/", "http://h:8000"), ("https://example.org/chroma/?x=1#y", "https://example.org/chroma"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"), ("", ""), (None, None),
])
def test_a_url_an_index_recorded_opens_without_the_parts_qa_used_to_drop(recorded: str | None, used: str | None) -> None:
    """One form per server (no trailing slash); an older qa accepted (and dropped) a query or
    fragment: an index or replica that recorded one keeps opening."""
    from qa.index.server_url import recorded_url

    assert recorded_url(recorded) == used
    if used:
        chroma_address(used)
