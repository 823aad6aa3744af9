"""What counts as a loopback binding for `qa serve` (the rules that open /ingest without a key
and accept only loopback Host names)."""

from __future__ import annotations

import pytest

from qa.server.security import allowed_hosts, is_loopback
from qa.settings import Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "192.168.1.4", "example.org"])
def test_an_empty_host_binds_every_interface_and_is_not_loopback(host: str) -> None:
    """``--host ""`` (an unset shell variable) binds 0.0.0.0 and ::: it was taken for loopback,
    which opened /ingest without QA_API_KEY and let any Host name through."""
    assert not is_loopback(host)
    assert allowed_hosts(Settings(), host) == ["*"]


def test_a_public_name_in_allowed_hosts_makes_a_loopback_server_reachable() -> None:
    from qa.server.security import loopback_only

    assert loopback_only(Settings(), "127.0.0.1")
    assert loopback_only(Settings(allowed_hosts=["localhost", "[::1]"]), "127.0.0.1")
    assert not loopback_only(Settings(allowed_hosts=["qa.example.org", "127.0.0.1"]), "127.0.0.1")
    assert not loopback_only(Settings(), "0.0.0.0")


@pytest.mark.parametrize(("host", "bucket"), [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::1", "::/64"),
    ("testclient", "testclient"),
])
def test_rate_limits_count_an_ipv6_network_not_each_address(host, bucket):
    from qa.server.security import client_network

    assert client_network(host) == bucket
