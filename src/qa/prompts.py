"""Prompt templates are files in ``prompts/`` (overridable with QA_PROMPTS_DIR), read at run time.

``src/qa/_prompts`` is a symlink to the repository's ``prompts/``: a checkout reads the files in
place, and a wheel carries copies of them as package data.
"""

from __future__ import annotations

from pathlib import Path

from qa.errors import QAError

DEFAULT_DIR = Path(__file__).resolve().parent / "_prompts"
NAMES = ("system", "answer", "condense", "passage")


def prompts_dir(override: Path | None) -> Path:
    return (override or DEFAULT_DIR).expanduser()


def load_prompt(name: str, override: Path | None = None) -> str:
    """The template ``name`` (system, answer, condense, passage); the override folder wins."""
    for folder in [override, DEFAULT_DIR] if override else [DEFAULT_DIR]:
        path = prompts_dir(folder) / f"{name}.md"
        if path.exists():
            return path.read_text(encoding="utf-8").strip() + "\n"
    raise QAError(f"prompt template {name}.md not found in {prompts_dir(override)}")
