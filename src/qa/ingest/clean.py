"""Remove page junk that is not the article: sidebars, "Related"/"Read more" blocks, runs of
headline-like lines, cookie and subscribe prompts, repeated blank lines.

Works line by line and never edits inside a kept line, so every sentence of the body survives
verbatim (citations quote the cleaned text).
"""

from __future__ import annotations

import re

from qa.sentences import LIST_STUB, SHORT_LINE, is_headline_like

# A line that opens a block of links to other articles.
_BLOCK_MARKER = re.compile(
    r"^(?:latest(?: posts| news| stories| headlines)?|related(?: articles| stories| posts| content"
    r"| coverage| news)?|read (?:more|next|also)|more (?:from|on|stories|news)\b.*|recommended"
    r"(?: for you| stories| reading)?|trending(?: now| stories)?|most (?:popular|read|viewed|shared)"
    r"|you (?:may|might) also like|also read|see also|editor'?s? picks|top stories|popular (?:posts"
    r"|stories)|in other news|what to read next|up next)\s*:?\s*$",
    re.I,
)
# Single lines that are site furniture wherever they appear.
_JUNK_LINE = re.compile(
    r"(?:\bcookies?\b.*\b(?:accept|consent|policy|use)\b|\baccept (?:all )?cookies\b"
    r"|\bsubscribe\b|\bsign up\b.*\b(?:newsletter|free|now|today)\b|\bnewsletter\b"
    r"|all rights reserved|©|\bcopyright \d{4}|^advertisement$|^sponsored(?: content)?$"
    r"|^share (?:this|on)\b|^(?:follow|like) us\b|^click here\b|^(?:download|get) (?:our|the) app"
    r"|^skip to (?:main )?content|^(?:watch|listen)\s*:|^(?:image|photo) (?:credit|courtesy)"
    r"|^(?:log ?in|sign ?in|register)$|^(?:menu|search|home|close)$)",
    re.I,
)
RUN_MIN = 4
RUN_HEADLINE_SHARE = 0.6


def is_short(line: str) -> bool:
    return 0 < len(line.strip()) <= SHORT_LINE


def _unwrap(lines: list[str]) -> list[str]:
    """Join hard-wrapped prose: in a block (lines between blank lines) whose line breaks mostly
    fall mid-sentence, the lines are one paragraph. Headline lists start each line in capitals,
    so they are left alone."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if len(block) >= 2:
            soft = sum(
                1
                for a, b in zip(block, block[1:])
                if b[:1].islower() or a.endswith((",", "-", ";")) or _OPEN_END.search(a)
            )
            if soft / (len(block) - 1) >= 0.5:
                joined = block[0]
                for b in block[1:]:
                    joined = joined[:-1] + b if joined.endswith("-") and b[:1].islower() else f"{joined} {b}"
                out.append(joined)
                block.clear()
                return
        out.extend(block)
        block.clear()

    for ln in lines:
        if ln:
            block.append(ln)
        else:
            flush()
            out.append("")
    flush()
    return out


_OPEN_END = re.compile(r"\b(?:the|a|an|of|to|in|and|or|for|with|on|at|by|from|that|as)$")


def clean_text(text: str) -> str:
    """Return the article body without page junk; paragraph breaks kept, blank runs collapsed."""
    raw = [ln.strip().replace("\u00a0", " ") for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = _unwrap(raw)
    keep = [bool(ln) for ln in lines]
    content = [i for i, ln in enumerate(lines) if ln]

    # 1. block markers: drop the marker and the headline-like lines after it; when what comes
    #    after that block is mostly headlines too (a sidebar), drop everything to the end.
    for pos, i in enumerate(content):
        if not keep[i] or not _BLOCK_MARKER.match(lines[i]):
            continue
        rest = [j for j in content[pos + 1 :] if keep[j]]
        block = 0
        while block < len(rest) and is_headline_like(lines[rest[block]]):
            block += 1
        after = rest[block:]
        heads = sum(1 for j in after if is_headline_like(lines[j]))
        sidebar = not after or heads / len(after) >= RUN_HEADLINE_SHARE
        for j in [i, *(rest if sidebar else rest[:block])]:
            keep[j] = False
        if sidebar:
            break

    # 2. furniture lines and list stubs
    for i in content:
        if keep[i] and (
            LIST_STUB.match(lines[i]) or (len(lines[i]) <= 200 and _JUNK_LINE.search(lines[i]))
        ):
            keep[i] = False

    # 3. runs of short lines that are mostly headline-like (link lists without a marker)
    run: list[int] = []
    for i in [*content, None]:
        if i is not None and keep[i] and is_short(lines[i]):
            run.append(i)
            continue
        if len(run) >= RUN_MIN:
            head = [is_headline_like(lines[j]) for j in run]
            if sum(head) / len(run) >= RUN_HEADLINE_SHARE:
                # headlines go; a sentence goes only when headlines stand on both sides of it
                for pos, j in enumerate(run):
                    inner = 0 < pos < len(run) - 1 and head[pos - 1] and head[pos + 1]
                    if head[pos] or inner:
                        keep[j] = False
        run = []

    # 4. kept lines; a blank line in the input (between kept lines) stays one blank line
    out: list[str] = []
    blank = False
    for i, ln in enumerate(lines):
        if not ln:
            blank = True
            continue
        if keep[i]:
            if out:
                out.append("\n\n" if blank else "\n")
            out.append(ln)
            blank = False
    return "".join(out)
