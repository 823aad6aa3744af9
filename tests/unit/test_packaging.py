"""A wheel install (not only a checkout) must carry the prompt templates, the web page and the
learned ranker's model file."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from qa.prompts import NAMES, load_prompt

ROOT = Path(__file__).resolve().parents[2]


def test_every_prompt_loads_from_the_package_folder() -> None:
    for name in NAMES:
        assert load_prompt(name).strip(), name
        assert (ROOT / "prompts" / f"{name}.md").read_text() == (ROOT / "src/qa/_prompts" / f"{name}.md").read_text()


def test_wheel_contains_prompts_and_web_page(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    if build.returncode != 0:
        pytest.fail(f"pip wheel failed: {build.stderr[-2000:]}")
    (wheel,) = tmp_path.glob("qa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in NAMES:
        assert f"qa/_prompts/{name}.md" in names
    assert {"qa/web/index.html", "qa/web/chat.js", "qa/web/chat.css"} <= names
    assert "qa/rank/ranker.json" in names and "qa/answer/judge.json" in names
