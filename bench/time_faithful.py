"""Issue #17's figures on a dated QA set: recall, answers, and how time-faithful they are.

Two steps, so that an older qa (another checkout on PYTHONPATH) can be measured against the same
windows as today's:

  # dump what a qa answers (any version importable as `qa`; settings as JSON overrides)
  python bench/time_faithful.py run --index .bench-cache/qa-index --out new.json \
      [--dataset ../shared/data/realtimeqa-2023h1] [--months 2023-01,2023-02,2023-03] \
      [--set '{"window_pool_weight": 0.5}']
  PYTHONPATH=../old/src python bench/time_faithful.py run --index … --out old.json

  # score dumps with this checkout's windows (qa.temporal.QuestionTime.evidence)
  python bench/time_faithful.py score old.json new.json

Parts: tune = January–March (the only months settings may be chosen on), held = April–June.
For questions with an explicit cue: top passage in the window, answer's first citation in the
window (of those answered), "nothing from that window" replies, R@5 counting only passages
published in the window, and gold containment of the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any


def run(args: argparse.Namespace) -> None:
    from qa.assistant import Assistant
    from qa.settings import Settings

    months = set(args.months.split(",")) if args.months else None
    questions = [json.loads(line) for line in (Path(args.dataset) / "questions.jsonl").read_text().splitlines() if line.strip()]
    bot = Assistant(Settings(index=Path(args.index), **json.loads(args.set)))
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    for q in questions:
        asked = date.fromisoformat(q["asked_on"].replace("/", "-"))
        if months and asked.strftime("%Y-%m") not in months:
            continue
        passages = bot.search(q["question"], 10, as_of=asked)
        answer = bot.ask(q["question"], as_of=asked)
        short = getattr(answer, "short_answer", None)
        rows.append({
            "id": q["id"], "asked_on": asked.isoformat(), "question": q["question"], "gold": q["answer"],
            "passages": [{"text": p.text, "published_at": _iso(p.published_at)} for p in passages],
            "answer": answer.answer, "answered": answer.answered,
            "citations": [{"published_at": _iso(c.published_at)} for c in answer.citations],
            "nothing_in_window": bool(answer.extra.get("nothing_in_window")),
            "short": short.text if short is not None else None,
        })
        print(f"\r{len(rows)} questions", end="", file=sys.stderr)
    Path(args.out).write_text(json.dumps(rows))
    print(f"\r{len(rows)} questions in {time.time() - t0:.0f} s → {args.out}", file=sys.stderr)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def score(paths: list[str]) -> None:
    from qa.evaluate import exact_match, first_hit
    from qa.temporal import question_time

    def day(x: str | None) -> date | None:
        return date.fromisoformat(x) if x else None

    for path in paths:
        parts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for r in json.loads(Path(path).read_text()):
            part = "tune (Jan–Mar)" if r["asked_on"][5:7] <= "03" else "held (Apr–Jun)"
            texts = [p["text"] for p in r["passages"]]
            rank = first_hit(r["gold"], texts)
            right = r["answered"] and first_hit(r["gold"], [r["answer"]]) is not None
            window = question_time(r["question"], day(r["asked_on"])).evidence
            for key in (part, "all"):
                t = parts[key]
                t["n"] += 1
                t["r1"] += rank is not None and rank <= 1
                t["r5"] += rank is not None and rank <= 5
                t["answered"] += r["answered"]
                t["gold"] += right
                if r.get("short") is not None:
                    t["short"] += 1
                    t["short_em"] += exact_match(r["short"], r["gold"])
                if window is None:
                    continue
                in_window = [p["text"] for p in r["passages"][:5] if window.holds_day(day(p["published_at"]))]
                t["cued"] += 1
                t["top_in"] += bool(r["passages"]) and window.holds_day(day(r["passages"][0]["published_at"]))
                t["cued_answered"] += r["answered"]
                t["cit_in"] += r["answered"] and bool(r["citations"]) and window.holds_day(day(r["citations"][0]["published_at"]))
                t["nothing"] += bool(r.get("nothing_in_window") or r.get("extra", {}).get("nothing_in_window"))
                t["cued_r5_in"] += first_hit(r["gold"], in_window) is not None
                t["cued_gold"] += right
        print(path)
        for key in ("tune (Jan–Mar)", "held (Apr–Jun)", "all"):
            t = parts[key]
            if not t["n"]:
                continue
            n, c = t["n"], max(t["cued"], 1)
            print(
                f"  {key:15} n={int(n)} R@1 {t['r1'] / n:.3f} R@5 {t['r5'] / n:.3f} answered {t['answered'] / n:.3f} "
                f"gold {t['gold'] / n:.3f} short EM {t['short_em'] / n:.3f} (answered {t['short'] / n:.3f}) | "
                f"cued {int(t['cued'])}: top in window {t['top_in'] / c:.3f}, first citation in window "
                f"{t['cit_in'] / max(t['cued_answered'], 1):.3f}, nothing {t['nothing'] / c:.3f}, "
                f"R@5 in window {t['cued_r5_in'] / c:.3f}, gold {t['cued_gold'] / c:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    r = sub.add_parser("run")
    r.add_argument("--index", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--dataset", default="../shared/data/realtimeqa-2023h1")
    r.add_argument("--months", default="")
    r.add_argument("--set", default="{}", help="settings overrides as JSON")
    s = sub.add_parser("score")
    s.add_argument("dumps", nargs="+")
    args = parser.parse_args()
    if args.step == "run":
        run(args)
    else:
        score(args.dumps)


if __name__ == "__main__":
    main()
