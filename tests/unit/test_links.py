import pytest

from qa.links import safe_url


@pytest.mark.parametrize("url", ["https://ledger.example/a?b=1#c", "http://127.0.0.1:8000/x", "HTTPS://X.example/"])
def test_http_urls_are_kept(url):
    assert safe_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "data:text/html,<b>x</b>",
     "file:///etc/passwd", "/etc/passwd", "//evil.example/x", "http://", "https://a.example/\nb",
     "vbscript:x", "", None, "https://" + "a" * 3000 + ".example/"],
)
def test_anything_else_is_dropped(url):
    assert safe_url(url) == ""
