"""Tune and measure the short-answer reader on a dated question set, fast.

Per question, the passages qa retrieves (as of the question's date) are cached in a file once
(`--passages FILE`, from `--index DIR`), and so are spaCy's analyses of the sentences read
(`--analyses FILE`); after that a run over all questions is a few seconds of pure Python, so a
grid over the reader's weights and threshold is cheap. Tuning looks at January–March only; the
held-out April–June figures are printed next to them and never used to choose.

    python bench/short_answers.py --dataset ../shared/data/realtimeqa-2023h1 --index IDX \
        --passages .bench-cache/short-passages.pkl --analyses .bench-cache/short-analyses.pkl
    ... --grid   # try the weight grid on Jan–Mar

Without an index, `--bm25` ranks chunks of the dataset's articles by BM25 alone (a rough stand-in
for qa's retrieval while an index is being built).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import pickle
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

from qa.answer.short import WEIGHTS, Reading, Weights, read, rerank, winner
from qa.answer.spans import Analyzer
from qa.evaluate import exact_match, first_hit, load_questions, token_f1
from qa.settings import Settings
from qa.temporal import question_time
from qa.types import ChunkRecord, Passage

TUNE = ("2023-01", "2023-02", "2023-03")


def bm25_passages(dataset: Path, questions, k: int) -> dict[str, list[Passage]]:
    from qa.ingest.chunk import chunk_spans
    from qa.ingest.clean import clean_text
    from qa.text import content_words

    docs = []
    for line in open(dataset / "articles.jsonl", encoding="utf-8"):
        rec = json.loads(line)
        y, m, d = (int(x) for x in rec["published_at"].split("/")[:3])
        text = clean_text(rec["text"])
        for i, (s, e) in enumerate(chunk_spans(text, target_chars=1000, overlap_sentences=1)):
            docs.append((rec["id"], i, s, e, text[s:e], rec.get("title", ""), rec.get("source", ""), date(y, m, d)))
    postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
    lengths = []
    for n, doc in enumerate(docs):
        words = content_words(f"{doc[5]} {doc[4]}")
        lengths.append(len(words))
        for w, c in Counter(words).items():
            postings[w].append((n, c))
    avg = sum(lengths) / len(lengths)
    out = {}
    for q in questions:
        scores: dict[int, float] = defaultdict(float)
        for w in set(content_words(q.question)):
            plist = postings.get(w, [])
            idf = math.log(1 + (len(docs) - len(plist) + 0.5) / (len(plist) + 0.5))
            for n, c in plist:
                if docs[n][7] > q.asked_on:
                    continue
                scores[n] += idf * c * 2.2 / (c + 1.2 * (0.25 + 0.75 * lengths[n] / avg))
        top = sorted(scores, key=scores.get, reverse=True)
        passages, per_doc = [], Counter()
        for n in top:
            doc = docs[n]
            if per_doc[doc[0]] >= 3:
                continue
            per_doc[doc[0]] += 1
            rec = ChunkRecord(doc[0], doc[1], doc[2], doc[3], doc[5], "", doc[6], doc[7], doc[7].toordinal())
            passages.append(Passage(f"{doc[0]}-{doc[1]}", doc[4], rec, scores[n] / scores[top[0]], 0.5))
            if len(passages) >= k:
                break
        out[q.id] = passages
    return out


def quoted_sentences(questions, passages: dict[str, list[Passage]], settings: Settings) -> dict[str, list]:
    """What the extractive answer quotes for each question (the sentence encoder's picks)."""
    from qa.answer.extractive import extractive_answer
    from qa.embeddings import get_encoder

    encoder = get_encoder("all-MiniLM-L6-v2")
    out = {}
    for q in questions:
        qtime = question_time(q.question, q.asked_on)
        ans = extractive_answer(q.question, passages.get(q.id, []), encoder.encode_query(q.question), encoder,
                                qtime=qtime, max_sentences=settings.answer_sentences, shortlist=settings.answer_shortlist)
        out[q.id] = {"quoted": [(c.doc_id, c.start, c.end) for c in ans.citations], "answer": ans.answer}
    return out


def index_passages(index: Path, questions, k: int) -> dict[str, list[Passage]]:
    from qa.assistant import Assistant

    bot = Assistant.open(index=index)
    out = {}
    for i, q in enumerate(questions, 1):
        prep = bot._prepare(q.question, q.asked_on, k, None)
        out[q.id] = prep.relevant
        if i % 50 == 0:
            print(f"  retrieved {i}/{len(questions)}", file=sys.stderr)
    bot.close()
    return out


def short_text(reading: Reading, threshold: float) -> tuple[str | None, float]:
    ans = winner(reading, 0.0)
    if ans is None:
        return None, 0.0
    return (ans.text if ans.confidence >= threshold else None), ans.confidence


def run(questions, passages, settings, analyzer, weights: Weights, extractive: dict) -> list[dict]:
    rows = []
    for q in questions:
        qtime = question_time(q.question, q.asked_on)
        ps = passages.get(q.id, [])
        ext = extractive.get(q.id, {"quoted": [], "answer": ""})
        reading = read(q.question, ps, qtime, settings, analyzer, weights=weights, quoted=ext["quoted"])
        ans = winner(reading, 0.0)
        text = ans.text if ans else ""
        reranked = rerank(ps, ans)
        rows.append({
            "id": q.id, "month": q.month, "gold": q.answer, "question": q.question, "kind": reading.qtype.kind,
            "text": text, "confidence": ans.confidence if ans else 0.0,
            "em": exact_match(text, q.answer) if ans else False, "f1": token_f1(text, q.answer) if ans else 0.0,
            "r5": first_hit(q.answer, [p.text for p in ps[:5]]) is not None,
            "r5_reranked": first_hit(q.answer, [p.text for p in reranked[:5]]) is not None,
            "r5_reranked_confident": None,
            "in_passages": first_hit(q.answer, [p.text for p in ps]) is not None,
            "sentences_contain": first_hit(q.answer, [ext["answer"]]) is not None,
            "top": [(c.key, round(c.score, 3)) for c in reading.candidates[:5]],
        })
    return rows


def summary(rows: list[dict], threshold: float) -> dict:
    n = max(len(rows), 1)
    answered = [r for r in rows if r["text"] and r["confidence"] >= threshold]
    em = sum(r["em"] for r in answered)
    return {
        "questions": len(rows),
        "em": round(em / n, 3),
        "f1": round(sum(r["f1"] for r in answered) / n, 3),
        "answered": round(len(answered) / n, 3),
        "accuracy_answered": round(em / max(len(answered), 1), 3),
        "em_if_always": round(sum(r["em"] for r in rows) / n, 3),
        "in_passages": round(sum(r["in_passages"] for r in rows) / n, 3),
        "sentences_contain": round(sum(r["sentences_contain"] for r in rows) / n, 3),
        "r5": round(sum(r["r5"] for r in rows) / n, 3),
        "r5_reranked": round(sum(r["r5_reranked"] for r in rows) / n, 3),
    }


def report(rows: list[dict], threshold: float) -> None:
    months = sorted({r["month"] for r in rows})
    for m in months:
        print(m, summary([r for r in rows if r["month"] == m], threshold))
    print("tune Jan-Mar", summary([r for r in rows if r["month"] in TUNE], threshold))
    print("held Apr-Jun", summary([r for r in rows if r["month"] not in TUNE], threshold))
    print("all         ", summary(rows, threshold))


def best_threshold(rows: list[dict]) -> float:
    """Highest tune-set EM among thresholds keeping accuracy-when-answered ≥ 0.6 (else the
    threshold with the best accuracy-weighted EM)."""
    tune = [r for r in rows if r["month"] in TUNE]
    best, best_key = 0.0, (-1.0, -1.0)
    for t in [i / 100 for i in range(100)]:
        s = summary(tune, t)
        key = (s["em"] if s["accuracy_answered"] >= 0.6 else s["em"] - 1, s["accuracy_answered"])
        if key > best_key:
            best, best_key = t, key
    return best


JUDGE_C = 0.5  # inverse L2 strength of the judge's logistic regression (chosen on Jan–Mar: bench/README.md)


def judge_design(questions, passages, settings, analyzer, extractive, weights: Weights = WEIGHTS):
    """Features of every judged candidate (the reader's, without the judge) and its label: is its
    text the gold answer (SQuAD-normalised exact match), as ``qa eval`` counts it."""
    import numpy as np

    from qa.answer.judge import TOP, features

    plain = settings.model_copy(update={"short_answer_judge": False})
    rows, labels, per_question = [], [], []
    for q in questions:
        qtime = question_time(q.question, q.asked_on)
        quoted = extractive.get(q.id, {"quoted": []})["quoted"]
        reading = read(q.question, passages.get(q.id, []), qtime, plain, analyzer, quoted=quoted, weights=weights)
        X = features(reading)
        ys = [exact_match(c.shown(reading.qtype.kind), q.answer) for c in reading.candidates[:TOP]]
        rows.append(X)
        labels.extend(ys)
        per_question.append(any(ys))
    X = np.vstack([x for x in rows if len(x)])
    return X, np.asarray(labels, dtype=np.float64), per_question


def train_judge(questions, passages, settings, analyzer, extractive, out: Path, dataset: Path,
                weights: Weights = WEIGHTS) -> None:
    """Fit the short-answer judge on this (training) set and write its model file."""
    from sklearn.linear_model import LogisticRegression

    from qa.answer.judge import JUDGE
    from qa.modelfile import LinearModel

    X, y, per_question = judge_design(questions, passages, settings, analyzer, extractive, weights)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    fit = LogisticRegression(C=JUDGE_C, max_iter=5000).fit((X - mean) / scale, y)
    model = LinearModel(mean.tolist(), scale.tolist(), fit.coef_[0].tolist(), float(fit.intercept_[0]))
    training = {
        "dataset": dataset.name, "questions": len(questions), "candidates": len(y),
        "positives": int(y.sum()), "gold_among_candidates": round(sum(per_question) / len(questions), 3),
        "model": f"logistic regression, C={JUDGE_C}, standardised features",
        "command": "python bench/short_answers.py --dataset ../shared/data/realtimeqa-2024 --index TRAIN_INDEX "
                   "--passages P --analyses A --train-judge src/qa/answer/judge.json",
    }
    out.write_text(json.dumps(JUDGE.dump("linear", model, training), indent=1) + "\n", encoding="utf-8")
    print(json.dumps(training))
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def timing(questions, passages, settings, extractive) -> None:
    """The reader's cost per question: spaCy on every sentence (a new analyser each time: what a
    server pays for sentences it has not read before), and again with them cached."""
    import statistics

    fresh, cached, fresh_cpu = [], [], []
    warm = Analyzer(settings.short_answer_pipeline)
    warm.analyse(["Warm-up sentence about Norland."])  # load the pipeline outside the timing
    for q in questions:
        qtime = question_time(q.question, q.asked_on)
        quoted = extractive.get(q.id, {"quoted": []})["quoted"]
        for analyzer, out in ((Analyzer(settings.short_answer_pipeline), fresh), (warm, None), (warm, cached)):
            t, c = time.perf_counter(), time.process_time()
            read(q.question, passages.get(q.id, []), qtime, settings, analyzer, quoted=quoted)
            if out is not None:
                out.append(1000 * (time.perf_counter() - t))
            if out is fresh:
                fresh_cpu.append(1000 * (time.process_time() - c))
    print(json.dumps({"questions": len(questions), "sentences_setting": settings.short_answer_sentences,
                      "uncached_ms_p50": round(statistics.median(fresh), 1), "uncached_ms_max": round(max(fresh), 1),
                      "uncached_cpu_ms_p50": round(statistics.median(fresh_cpu), 1),
                      "cached_ms_p50": round(statistics.median(cached), 1)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--bm25", action="store_true")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--passages", type=Path, required=True)
    ap.add_argument("--analyses", type=Path, required=True)
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--sentences", type=int)
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--timing", type=int, help="time the reader on the first N questions (cold and cached spaCy analyses)")
    ap.add_argument("--grid-json", help='weights to try, JSON {"name": [values]}')
    ap.add_argument("--dump", type=Path, help="write per-question rows (JSONL)")
    ap.add_argument("--only-tune", action="store_true", help="read only Jan–Mar questions")
    ap.add_argument("--weights", help='reader weights to change, JSON {"name": value} (qa.answer.short.Weights)')
    ap.add_argument("--no-judge", action="store_true", help="the reader's votes alone (short_answer_judge off)")
    ap.add_argument("--judge", type=Path, help="judge model file to use (default: the shipped one)")
    ap.add_argument("--train-judge", type=Path, metavar="OUT",
                    help="fit the short-answer judge on this dataset (the 2024 training set only) and write it to OUT")
    args = ap.parse_args()

    questions = load_questions(args.dataset / "questions.jsonl")
    if args.only_tune:
        questions = [q for q in questions if q.month in TUNE]
    if args.passages.exists():
        passages = pickle.loads(args.passages.read_bytes())
    else:
        t0 = time.perf_counter()
        passages = bm25_passages(args.dataset, questions, args.k) if args.bm25 else index_passages(args.index, questions, args.k)
        args.passages.parent.mkdir(parents=True, exist_ok=True)
        args.passages.write_bytes(pickle.dumps(passages))
        print(f"passages cached in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    overrides: dict = {"short_answer_sentences": args.sentences} if args.sentences else {}
    if args.no_judge:
        overrides["short_answer_judge"] = False
    if args.judge:
        overrides["short_answer_judge_model"] = args.judge
    settings = Settings(**overrides)
    ext_path = args.passages.with_suffix(".extractive.pkl")
    if ext_path.exists():
        extractive = pickle.loads(ext_path.read_bytes())
    else:
        extractive = quoted_sentences(questions, passages, settings)
        ext_path.write_bytes(pickle.dumps(extractive))
    analyzer = Analyzer(settings.short_answer_pipeline, cache_size=10_000_000)
    if args.analyses.exists():
        analyzer._cache.update(pickle.loads(args.analyses.read_bytes()))
    if args.timing:
        timing(questions[: args.timing], passages, settings, extractive)
        return
    weights = replace(WEIGHTS, **json.loads(args.weights)) if args.weights else WEIGHTS
    if args.train_judge:
        train_judge(questions, passages, settings, analyzer, extractive, args.train_judge, args.dataset, weights)
        return
    t0 = time.perf_counter()
    rows = run(questions, passages, settings, analyzer, weights, extractive)
    print(f"read {len(rows)} questions in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    args.analyses.write_bytes(pickle.dumps(dict(analyzer._cache)))
    threshold = args.threshold if args.threshold is not None else best_threshold(rows)
    print(f"threshold {threshold}")
    report(rows, threshold)
    if args.dump:
        with open(args.dump, "w") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if args.grid:
        tune_q = [q for q in questions if q.month in TUNE]
        grid = json.loads(args.grid_json) if args.grid_json else {
            "quoted": [0.0, 1.0, 3.0, 10.0],
            "rank_scale": [1.5, 3.0, 8.0],
            "sentence_floor": [0.05, 0.2, 0.6],
        }
        results = []
        for values in itertools.product(*grid.values()):
            w = replace(WEIGHTS, **dict(zip(grid, values)))
            rs = run(tune_q, passages, settings, analyzer, w, extractive)
            t = best_threshold(rs)
            s = summary(rs, t)
            results.append((s["em"], s["em_if_always"], s["accuracy_answered"], t, dict(zip(grid, values))))
        results.sort(key=lambda r: (r[0], r[1]), reverse=True)
        for r in results[:15]:
            print(r)


if __name__ == "__main__":
    main()
