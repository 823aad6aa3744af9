"""The web chat page in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chat_page(url: str, question: str, *, setup: str | None = None) -> Iterator[Any]:
    """The chat page at ``url`` in headless Chromium after asking ``question``, once the answer's
    first source is shown; ``setup`` is JavaScript run before asking. Skips without chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(url)
            if setup:
                page.evaluate(setup)
            page.fill("#question", question)
            page.press("#question", "Enter")
            page.locator(".turn .sources li").first.wait_for(timeout=60_000)
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from qa.ingest import ingest
    from qa.settings import Settings
    from test_server import _serve

    index = tmp_path_factory.mktemp("web") / "index"
    ingest([str(SAMPLES)], Settings(index=index))
    proc, url = _serve(index)
    yield url
    proc.kill()
    proc.wait()


def test_page_streams_an_answer_with_clickable_dated_sources(served, tmp_path):
    with chat_page(f"{served}/?as_of=2025-03-10", "When did Varga and Hale last speak?") as page:
        first_source = page.locator(".turn .sources li").first
        answer = page.locator(".turn .a").first.inner_text()
        assert "8 March 2025" in answer and "[1]" in answer
        assert "Varga and Hale discuss border trade" in first_source.inner_text()
        assert "2025-03-08" in first_source.inner_text()
        assert "phone call on Saturday" in first_source.locator("blockquote").inner_text()
        page.locator(".turn .a .cite").first.click()
        assert "flash" in (first_source.get_attribute("class") or "")
        # a follow-up: the page sends the history, the server rewrites it
        page.fill("#question", "And before that?")
        page.press("#question", "Enter")
        page.locator(".turn").nth(1).locator(".sources li").first.wait_for(timeout=60_000)
        second = page.locator(".turn").nth(1)
        assert "February 2025" in second.locator(".a").inner_text()
        assert "before Saturday 8 March 2025" in second.locator(".rewritten").inner_text()
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        shutil.copy(tmp_path / "chat.png", "/tmp/qa-chat.png") if Path("/tmp").is_dir() else None
