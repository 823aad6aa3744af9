"""Train qa's learned ranker (qa/rank) on the training set, and measure it.

Steps, each reproducible from the one before:

  pools   ask every question of a dataset as of its date against a qa index and keep, for each,
          every fused candidate (the top --pool of dense and of BM25) with what retrieval knew of
          it, its text and whether it holds the gold answer; plus plain BM25's top 10
          python bench/train_ranker.py pools --dataset ../shared/data/realtimeqa-2024 \
              --index /work/cache/train-index --out /work/cache/rank/train.pkl.gz
  noise   how noisy the label is: for every question, the share of passage-sized windows of
          articles about other news (published > 45 days away) that contain its gold answer
          python bench/train_ranker.py noise --dataset ../shared/data/realtimeqa-2024 \
              --out /work/cache/rank/train-noise.json
  train   features (qa.rank.features.extract, the code qa runs) for every pool, label-noise
          figures, week-grouped cross-validation on the training set (with and without the
          chance-prone questions), then the final model trained on all of it, written with its
          figures to src/qa/rank/ranker.json
          python bench/train_ranker.py train --train /work/cache/rank/train.pkl.gz \
              --noise /work/cache/rank/train-noise.json
  ablate  the same cross-validation with groups of features blanked: what each group adds
          python bench/train_ranker.py ablate --train /work/cache/rank/train.pkl.gz sent_cover,sent_fit
  report  today's fusion, plain BM25 and the shipped ranker on a dataset's pools, per month and
          per quarter (R@1/5/10, MRR@10 after the window's lead and the per-article cap, as
          `qa eval` counts)
          python bench/train_ranker.py report --pools /work/cache/rank/dev.pkl.gz
  latency warm search p50/p95 on a real index with the ranker on and off, in one run
          python bench/train_ranker.py latency --dataset ../shared/data/realtimeqa-2023h1 \
              --index /work/cache/train-index

Labels: a passage is relevant when it contains the normalised gold answer (qa.evaluate's rule).
Only the training set's pools are used to fit or choose anything in `train`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import random
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from qa.evaluate import Question, first_hit, load_questions  # noqa: E402
from qa.rank.features import FEATURES, Candidate, extract  # noqa: E402
from qa.rank.model import SHIPPED, LinearModel, base_score, from_lightgbm, model_file, parse  # noqa: E402
from qa.retrieve import cap_per_document, window_first  # noqa: E402
from qa.settings import Settings  # noqa: E402
from qa.temporal import QuestionTime, question_time  # noqa: E402
from qa.text import normalize_answer  # noqa: E402
from qa.types import ChunkRecord, Passage  # noqa: E402

_DEFAULT = {name: field.default for name, field in Settings.model_fields.items()}  # qa's defaults, not the env's
RRF_K, DENSE_W, LEX_W = _DEFAULT["rrf_k"], _DEFAULT["dense_weight"], _DEFAULT["lexical_weight"]  # fusion
PER_DOC_CAP = _DEFAULT["per_doc_cap"]
WINDOW_LEAD, MIN_RELEVANCE = _DEFAULT["window_lead"], _DEFAULT["min_relevance"]  # the lead after any ranking
K = 10


@dataclass
class Cand(Candidate):
    """A pooled candidate and its label (holds the gold answer)."""

    label: int = 0


@dataclass(frozen=True)
class Pool(Question):
    """A question and its fused candidates, as retrieval saw them on the day it was asked."""

    text: str = ""  # what retrieval matched (the question without its time words)
    cands: tuple[Cand, ...] = ()
    bm25: tuple[str, ...] = ()  # plain BM25's top 10 texts


def holds(gold: str, text: str) -> bool:
    return first_hit(gold, [text]) is not None


# ------------------------------------------------------------------ pools


def cmd_pools(args: argparse.Namespace) -> None:
    from qa.assistant import Assistant
    from qa.retrieve import Retriever, SearchFilters

    questions = load_questions(args.dataset / "questions.jsonl", args.limit)
    if args.questions_before:
        questions = [q for q in questions if q.asked_on.isoformat() < args.questions_before]
    settings = Settings(index=args.index, learned_ranking=False, dense_candidates=args.pool,
                        lexical_candidates=args.pool)
    bot = Assistant(settings)
    pools: list[Pool] = []
    t0 = time.perf_counter()
    with bot.reading() as reader:
        retriever = Retriever(reader, settings)
        for i, q in enumerate(questions, 1):
            qtime = question_time(q.question, q.asked_on)
            filters = SearchFilters(as_of=q.asked_on)
            text, scored, _ = retriever.pool(q.question, K, filters, qtime)
            cands = [Cand(c.chunk_id, c.text, c.record, c.similarity, c.fused, c.prior, c.dense_rank,
                          c.lexical_rank, c.lexical_score, int(holds(q.answer, c.text))) for _, c in scored]
            ids = [cid for cid, _ in reader.lexical.search(q.question, K, filters)]
            got = {cid: t for cid, t, _, _ in reader.vectors.get(ids)} if ids else {}
            pools.append(Pool(q.id, q.question, q.answer, q.asked_on, text, tuple(cands), tuple(got[c] for c in ids)))
            if i % 50 == 0:
                print(f"  {i}/{len(questions)} questions, {(time.perf_counter() - t0) / i * 1000:.0f} ms each", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wb") as f:  # plain dicts and tuples: readable whatever imports it
        pickle.dump({"pool": args.pool, "index": str(args.index), "dataset": str(args.dataset),
                     "pools": [_plain(p) for p in pools]}, f)
    n_pos = sum(any(c.label for c in p.cands) for p in pools)
    print(f"{len(pools)} pools, mean {np.mean([len(p.cands) for p in pools]):.0f} candidates, answer in the pool for {n_pos / len(pools):.3f} → {args.out}")


def _plain(pool: Pool) -> dict[str, Any]:
    d = {k: getattr(pool, k) for k in ("id", "question", "answer", "asked_on", "text", "bm25")}
    d["cands"] = [{**{k: v for k, v in c.__dict__.items() if k != "record"}, "record": asdict(c.record)} for c in pool.cands]
    return d


def _pool(d: dict[str, Any]) -> Pool:
    cands = [Cand(**{**c, "record": ChunkRecord(**c["record"])}) for c in d["cands"]]
    return Pool(d["id"], d["question"], d["answer"], d["asked_on"], d["text"], tuple(cands), tuple(d["bm25"]))


def read_pools(path: Path) -> tuple[int, list[Pool]]:
    with gzip.open(path, "rb") as f:
        data = pickle.load(f)
    return data["pool"], [_pool(d) for d in data["pools"]]


def _rrf(rank: int, weight: float) -> float:
    return weight / (RRF_K + rank) if rank else 0.0


def narrowed(pool: Pool, depth: int) -> list[Cand]:
    """The pool qa would have with ``depth`` candidates from each whole-index ranking: fused
    again over the shorter lists plus what the window's own rankings gave, in today's order
    (fusion × time prior)."""
    out = []
    for c in pool.cands:
        d = c.dense_rank if c.dense_rank and c.dense_rank <= depth else 0
        lx = c.lexical_rank if c.lexical_rank and c.lexical_rank <= depth else 0
        # what the question's window pool (its own rankings, as deep at any depth) gave it
        window = c.fused - _rrf(c.dense_rank, DENSE_W) - _rrf(c.lexical_rank, LEX_W)
        window = window if window > 1e-12 else 0.0
        if not d and not lx and not window:
            continue
        fused = _rrf(d, DENSE_W) + _rrf(lx, LEX_W) + window
        out.append(Cand(c.chunk_id, c.text, c.record, c.similarity, fused, c.prior, d, lx,
                        c.lexical_score if lx else 0.0, c.label))
    out.sort(key=lambda c: c.fused * c.prior, reverse=True)
    return out


# ------------------------------------------------------------------ metrics


def top_k(cands: list[Cand], order: np.ndarray | None = None, qtime: QuestionTime | None = None) -> list[Cand]:
    """What qa returns: the order given (default: today's), the window's best relevant passage
    first for a question with a window (``window_first``, as search does after any ranking),
    capped per article, first K."""
    seq = cands if order is None else [cands[i] for i in order]
    if qtime is not None and WINDOW_LEAD:
        seq = [c for _, c in window_first([(0.0, c) for c in seq], qtime, WINDOW_LEAD, MIN_RELEVANCE)]
    by_id = {c.chunk_id: c for c in seq}
    passages = [Passage(c.chunk_id, c.text, c.record, 0.0) for c in seq]
    return [by_id[p.chunk_id] for p in cap_per_document(passages, PER_DOC_CAP, K)]


def ranked_hit(cands: list[Cand], order: np.ndarray | None = None, qtime: QuestionTime | None = None) -> int | None:
    """1-based rank of the first passage holding the answer in what qa returns."""
    for r, c in enumerate(top_k(cands, order, qtime), 1):
        if c.label:
            return r
    return None


def cued_window(pool: Pool) -> tuple[int, int] | None:
    """For a question with a time cue ("this week", "recently", "latest", "in May"): the days its
    top result should be published in (the named period when longer than two weeks, else the 14
    days up to the question's date); None without a cue (issue #17's time figure)."""
    from qa.retrieve import _TIME_NOISE

    qtime = question_time(pool.question, pool.asked_on)
    if not (qtime.window or qtime.recency or _TIME_NOISE.search(pool.question)):
        return None
    as_of = pool.asked_on.toordinal()
    if qtime.window and (qtime.window[1] - qtime.window[0]).days > 14:
        return qtime.window[0].toordinal(), min(qtime.window[1].toordinal(), as_of)
    return as_of - 14, as_of


def time_faithful(pools: list[Pool], tops: list[list[Cand]]) -> dict[str, Any]:
    """Share of cued questions whose top result is published inside the question's window."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for p, top in zip(pools, tops):
        window = cued_window(p)
        if window is None or not top:
            continue
        inside = window[0] <= top[0].record.published_day <= window[1]
        for g in (p.quarter, "all"):
            groups[g].append(inside)
    return {g: {"cued": len(v), "top_in_window": round(sum(v) / len(v), 4)} for g, v in sorted(groups.items())}


def scores(ranks: list[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    out = {f"R@{k}": round(sum(1 for r in ranks if r and r <= k) / n, 4) for k in (1, 5, 10)}
    out["MRR@10"] = round(sum(1.0 / r for r in ranks if r and r <= 10) / n, 4)
    out["n"] = len(ranks)
    return out


def table(pools: list[Pool], ranks: list[int | None]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int | None]] = defaultdict(list)
    for p, r in zip(pools, ranks):
        groups[p.month].append(r)
        groups[p.quarter].append(r)
        groups["all"].append(r)
    return {g: scores(rs) for g, rs in sorted(groups.items())}


# ------------------------------------------------------------------ features and labels


@dataclass
class Design:
    pools: list[Pool]
    cands: list[list[Cand]]
    X: list[np.ndarray]
    y: list[np.ndarray]  # the label measured: holds the gold answer
    qtimes: list[QuestionTime]
    fit: list[np.ndarray] | None = None  # the label fitted, when cleaner than ``y`` (--label evidence)

    def fitted(self, i: int) -> np.ndarray:
        return self.y[i] if self.fit is None else self.fit[i]


def design(pools: list[Pool], depth: int) -> Design:
    cands, X, y, qtimes = [], [], [], []
    t0 = time.perf_counter()
    for p in pools:
        cs = narrowed(p, depth)
        cands.append(cs)
        qtimes.append(question_time(p.question, p.asked_on))
        X.append(extract(p.text, qtimes[-1], cs))
        y.append(np.array([c.label for c in cs], dtype=np.int32))
    ms = 1000 * (time.perf_counter() - t0) / max(len(pools), 1)
    print(f"  features: {len(pools)} pools, {ms:.1f} ms per pool (extraction + question time)", file=sys.stderr)
    return Design(pools, cands, X, y, qtimes)


def evidence_labels(d: Design, dataset: Path, share: float) -> list[np.ndarray]:
    """A cleaner label to fit (never to measure): the passage holds the gold answer and at least
    ``share`` of the content words of the question's evidence (the quiz's explanation in
    questions.jsonl), so "12" or "Delaware" in an unrelated story is no positive."""
    from qa.rank.features import TermMatcher, question_terms

    evidence = {}
    for line in (dataset / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            evidence[q["id"]] = q.get("evidence") or ""
    out = []
    for p, cands, y in zip(d.pools, d.cands, d.y):
        terms = question_terms(evidence.get(p.id, ""))
        if not terms:
            out.append(y)
            continue
        matcher = TermMatcher(terms)
        held = [len({t for t, _, _ in matcher.find(c.text.lower())}) / len(terms) if c.label else 0.0 for c in cands]
        out.append(np.array([int(lab and h >= share) for lab, h in zip(y, held)], dtype=np.int32))
    return out


def label_name(args: argparse.Namespace) -> str:
    if args.label == "evidence":
        return f"holds the gold answer and >= {args.evidence_share} of the evidence's content words"
    return "holds the gold answer"


def with_label(d: Design, args: argparse.Namespace) -> None:
    """Fit the label ``--label`` asks for (measured figures always use the gold label)."""
    if args.label == "evidence":
        d.fit = evidence_labels(d, args.dataset, args.evidence_share)
        kept = sum(int(f.sum()) for f in d.fit)
        print(f"  label: {kept} of {sum(int(y.sum()) for y in d.y)} gold positives also hold the evidence's words",
              file=sys.stderr)


WINDOW = 1000  # characters per passage-sized window of raw article text (qa's chunk size)
AWAY_DAYS = 45  # articles published this far from a question's date are about other news


def read_articles(path: Path) -> list[tuple[int, str]]:
    """(published day ordinal or -1, text) of every article of a JSONL or JSONL.gz file."""
    from qa.dates import parse_date

    opener = gzip.open if path.suffix == ".gz" else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            day = parse_date(rec.get("published_at"))
            out.append((day.toordinal() if day else -1, rec.get("text", "")))
    return out


def chance_rates(questions: list[Question], articles: list[tuple[int, str]], sample: int = 4000,
                 seed: int = 0) -> list[float]:
    """For each question, the share of passage-sized windows of articles published more than
    AWAY_DAYS from its date (other news) that "hold" its gold answer: how often the label fires
    without the passage being about the question. A pool of n candidates holds about n × rate
    such chance positives."""
    rng = random.Random(seed)
    picked = rng.sample(articles, min(sample, len(articles)))
    windows = [(day, f" {normalize_answer(text[i:i + WINDOW])} ") for day, text in picked
               for i in range(0, max(len(text), 1), WINDOW)]
    days = np.array([d for d, _ in windows])
    out = []
    for q in questions:
        g = normalize_answer(q.answer)
        away = np.abs(days - q.asked_on.toordinal()) > AWAY_DAYS
        idx = np.flatnonzero(away & (days > 0))
        hits = sum(1 for i in idx if g and f" {g} " in windows[i][1])
        out.append(hits / max(len(idx), 1))
    return out


def noise_figures(questions: list[Question], rates: list[float], pool_size: int, threshold: float) -> dict[str, Any]:
    """How noisy "contains the gold answer" is as a relevance label, from the chance rates."""
    short = [len(normalize_answer(q.answer)) <= 3 or normalize_answer(q.answer).replace(" ", "").isdigit() for q in questions]
    expected = [r * pool_size for r in rates]
    prone = [r >= threshold for r in rates]

    def share(xs: list[bool]) -> float:
        return round(sum(xs) / max(len(xs), 1), 4)

    return {
        "questions": len(questions),
        "pool_size": pool_size,
        "chance_rate_mean": round(float(np.mean(rates)), 5),
        "chance_positives_per_pool_mean": round(float(np.mean(expected)), 3),
        "questions_with_>=1_chance_positive_per_pool": share([e >= 1 for e in expected]),
        "questions_with_>=0.1_chance_positive_per_pool": share([e >= 0.1 for e in expected]),
        "chance_prone_threshold": threshold,
        "chance_prone": sum(prone),
        "short_or_number_answers": sum(short),
        "short_or_number_answers_chance_prone": sum(p and s_ for p, s_ in zip(prone, short)),
        "other_answers_chance_prone": sum(p and not s_ for p, s_ in zip(prone, short)),
        "worst": [f"{q.answer} ({r:.3f})" for r, q in sorted(zip(rates, questions), key=lambda t: -t[0])[:20]],
    }


def cmd_noise(args: argparse.Namespace) -> None:
    questions = load_questions(args.dataset / "questions.jsonl")
    articles = read_articles(args.articles or _articles_file(args.dataset))
    rates = chance_rates(questions, articles)
    figures = noise_figures(questions, rates, args.pool_size, args.chance_threshold)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rates": {q.id: r for q, r in zip(questions, rates)}, "figures": figures}, indent=1))
    print(json.dumps(figures, indent=1))


def _articles_file(dataset: Path) -> Path:
    plain = dataset / "articles.jsonl"
    return plain if plain.exists() else dataset / "articles.jsonl.gz"


# ------------------------------------------------------------------ models

PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "ndcg_eval_at": [1, 5],
    "lambdarank_truncation_level": 20,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "use_missing": False,
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
}


def with_positive(d: Design, keep: list[bool] | None = None) -> list[int]:
    return [i for i in range(len(d.y)) if d.fitted(i).any() and (keep is None or keep[i])]


def fit_trees(d: Design, idx: list[int], rounds: int, params: dict[str, Any], base_weight: float = 0.0):
    """LambdaRank trees boosted from today's order (``base_weight`` × the fused place); returns
    the numpy model qa ships and the booster."""
    import lightgbm as lgb

    X = np.concatenate([d.X[i] for i in idx])
    y = np.concatenate([d.fitted(i) for i in idx])
    group = [len(d.y[i]) for i in idx]
    ds = lgb.Dataset(X, y, group=group, feature_name=list(FEATURES), init_score=base_score(X, base_weight),
                     free_raw_data=False)
    booster = lgb.train(params, ds, num_boost_round=rounds)
    model = from_lightgbm(booster.dump_model(), base_weight)
    check = d.X[idx[0]]
    assert np.allclose(model.predict(check), booster.predict(check) + base_score(check, base_weight), atol=1e-9)
    return model, booster


def fit_linear(d: Design, idx: list[int], C: float, base_weight: float = 0.0) -> LinearModel:
    """Pairwise logistic regression (RankNet-style, linear): positives against the negatives of
    the same pool, on standardised features."""
    from sklearn.linear_model import LogisticRegression

    X = np.concatenate([d.X[i] for i in idx]).astype(np.float64)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    diffs = []
    rng = np.random.default_rng(0)
    for i in idx:
        Z = (d.X[i] - mean) / scale
        pos, neg = np.flatnonzero(d.fitted(i)), np.flatnonzero(d.fitted(i) == 0)
        if not len(pos) or not len(neg):
            continue
        neg = rng.choice(neg, size=min(len(neg), 30), replace=False)
        for a in pos[:5]:
            diffs.append(Z[a] - Z[neg])
    D = np.concatenate(diffs)
    Xp = np.concatenate([D, -D])
    yp = np.concatenate([np.ones(len(D)), np.zeros(len(D))])
    lr = LogisticRegression(C=C, fit_intercept=False, max_iter=2000).fit(Xp, yp)
    return LinearModel(mean.tolist(), scale.tolist(), lr.coef_[0].tolist(), 0.0, base_weight)


def evaluate(d: Design, idx: list[int], predict) -> tuple[list[int | None], list[int | None]]:
    """Ranks of the first hit under today's order and under the model, for the pools in idx."""
    base, learned = [], []
    for i in idx:
        base.append(ranked_hit(d.cands[i], qtime=d.qtimes[i]))
        if len(d.cands[i]) == 0:
            learned.append(None)
            continue
        s = predict(d.X[i])
        learned.append(ranked_hit(d.cands[i], np.argsort(-s, kind="stable"), d.qtimes[i]))
    return base, learned


def week_folds(d: Design, n: int) -> list[list[int]]:
    """Folds of whole weeks, interleaved (a week's questions share its news, so none of a test
    week's stories is seen in training)."""
    weeks = sorted({p.asked_on.isocalendar()[:2] for p in d.pools})
    fold_of = {w: i % n for i, w in enumerate(weeks)}
    return [[i for i, p in enumerate(d.pools) if fold_of[p.asked_on.isocalendar()[:2]] == f] for f in range(n)]


def cross_validate(d: Design, folds: int, configs: list[dict[str, Any]], keep: list[bool] | None = None) -> list[dict[str, Any]]:
    rows = []
    fold_idx = week_folds(d, folds)
    for cfg in configs:
        base_all, learned_all = [], []
        for f, test in enumerate(fold_idx):
            test_set = set(test)
            train = [i for i in with_positive(d, keep) if i not in test_set]
            if cfg["kind"] == "trees":
                predict = fit_trees(d, train, cfg["rounds"], {**PARAMS, **cfg.get("params", {})}, cfg.get("base", 0.0))[0].predict
            else:
                predict = fit_linear(d, train, cfg["C"]).predict
            b, l = evaluate(d, test, predict)
            base_all += b
            learned_all += l
        row = {"config": cfg, "fusion": scores(base_all), "ranker": scores(learned_all)}
        rows.append(row)
        print(f"  cv {json.dumps(cfg)}: fusion R@1 {row['fusion']['R@1']:.3f} R@5 {row['fusion']['R@5']:.3f}"
              f" → ranker R@1 {row['ranker']['R@1']:.3f} R@5 {row['ranker']['R@5']:.3f}", file=sys.stderr)
    return rows


CONFIGS = [
    {"kind": "trees", "rounds": 150},
    {"kind": "trees", "rounds": 300},
    {"kind": "trees", "rounds": 300, "params": {"num_leaves": 15, "min_data_in_leaf": 80}},
    {"kind": "trees", "rounds": 100, "base": 1.0},
    {"kind": "trees", "rounds": 300, "base": 1.0},
    {"kind": "trees", "rounds": 300, "base": 3.0},
    {"kind": "linear", "C": 0.1},
    {"kind": "linear", "C": 1.0},
]


def cmd_train(args: argparse.Namespace) -> None:
    depth_dumped, pools = read_pools(args.train)
    depth = args.depth or depth_dumped
    print(f"training set: {len(pools)} questions, pools of the top {depth} dense and BM25", file=sys.stderr)
    d = design(pools, depth)
    with_label(d, args)
    noise_file = json.loads(args.noise.read_text())
    rates = [noise_file["rates"][p.id] for p in pools]
    noise = noise_figures(list(pools), rates, int(np.mean([len(c) for c in d.cands])), args.chance_threshold)
    positives = sum(int(y.sum()) for y in d.y)
    noise["positives"] = positives
    noise["positives_expected_by_chance"] = round(sum(r * len(c) for r, c in zip(rates, d.cands)), 1)
    noise["share_of_positives_by_chance"] = round(noise["positives_expected_by_chance"] / max(positives, 1), 4)
    print("label noise:", json.dumps(noise, indent=1), file=sys.stderr)
    keep_clean = [r < args.chance_threshold for r in rates]

    configs = CONFIGS if args.configs is None else [json.loads(c) for c in args.configs]
    cv = cross_validate(d, args.folds, configs)
    best = max(cv, key=lambda r: (r["ranker"]["R@5"] + r["ranker"]["R@1"]))
    print(f"best on training-set cross-validation: {json.dumps(best['config'])}", file=sys.stderr)
    cv_clean = cross_validate(d, args.folds, [best["config"]], keep=keep_clean)[0]

    cfg = best["config"]
    train_idx = with_positive(d, keep_clean if args.filter_chance else None)
    if cfg["kind"] == "trees":
        model, booster = fit_trees(d, train_idx, cfg["rounds"], {**PARAMS, **cfg.get("params", {})}, cfg.get("base", 0.0))
        gain = booster.feature_importance("gain")
        importance = {FEATURES[i]: round(float(g), 1) for i, g in sorted(enumerate(gain), key=lambda t: -t[1])}
        kind = "trees"
    else:
        model = fit_linear(d, train_idx, cfg["C"])
        importance = {f: round(c, 4) for f, c in sorted(zip(FEATURES, model.coef.tolist()), key=lambda t: -abs(t[1]))}
        kind = "linear"
    base, learned = evaluate(d, list(range(len(pools))), model.predict)
    training = {
        "trained_on": str(args.train_label or args.train),
        "questions": len(pools),
        "questions_with_a_positive": len(with_positive(d)),
        "questions_fitted": len(train_idx),
        "pool_depth": depth,
        "config": cfg,
        "params": {**PARAMS, **cfg.get("params", {})} if kind == "trees" else {"C": cfg["C"]},
        "label": "measured: passage contains the normalised gold answer (qa.evaluate.first_hit); fitted: " + label_name(args),
        "label_noise": noise,
        "filtered_chance_prone": bool(args.filter_chance),
        "cross_validation": {"folds": f"{args.folds}, of whole weeks", "rows": cv,
                             "best_without_chance_prone_questions": cv_clean},
        "fit_on_all_training": {"fusion": scores(base), "ranker": scores(learned)},
        "importance": importance,
    }
    out = model_file(kind, model, training)
    args.out.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    parse(json.loads(args.out.read_text()))  # loads as qa will
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB): {kind} {json.dumps(cfg)}")
    print(json.dumps({"cv_best": best, "cv_best_without_chance_prone": cv_clean,
                      "label_noise": {k: v for k, v in noise.items() if k != "examples"}}, indent=1))


def cmd_ablate(args: argparse.Namespace) -> None:
    """Week-grouped cross-validation on the training pools with groups of features blanked
    (set to 0 for every candidate): what each group adds."""
    _, pools = read_pools(args.train)
    d = design(pools, args.depth)
    with_label(d, args)
    cfg = json.loads(args.config)
    rows = {}
    for group in [""] + args.groups:
        names = [g for g in group.split(",") if g]
        cols = [FEATURES.index(n) for n in names]
        blank = Design(d.pools, d.cands, [x.copy() for x in d.X], d.y, d.qtimes, d.fit)
        for x in blank.X:
            x[:, cols] = 0.0
        row = cross_validate(blank, args.folds, [cfg])[0]
        rows[group or "all features"] = {"R@1": row["ranker"]["R@1"], "R@5": row["ranker"]["R@5"],
                                          "fusion R@1": row["fusion"]["R@1"], "fusion R@5": row["fusion"]["R@5"]}
    print(json.dumps({"config": cfg, "label": label_name(args), "without": rows}, indent=1))


def cmd_latency(args: argparse.Namespace) -> None:
    """Warm ``Retriever.search`` p50/p95 on a real index with the learned ranker on and off, the
    same questions interleaved in one process (query encoding included)."""
    import statistics

    from qa.assistant import Assistant
    from qa.retrieve import Retriever, SearchFilters

    questions = load_questions(args.dataset / "questions.jsonl", args.queries)
    variants = {"fusion": Settings(index=args.index, learned_ranking=False),
                "ranker": Settings(index=args.index, learned_ranking=True)}
    times: dict[str, list[float]] = {v: [] for v in variants}
    bot = Assistant(variants["fusion"])
    with bot.reading() as reader:
        retrievers = {v: Retriever(reader, s) for v, s in variants.items()}
        chunks = reader.stats().get("chunks")
        for q in questions[:5]:  # warm: model, matrix, BM25 searcher
            for r in retrievers.values():
                r.search(q.question, K, SearchFilters(as_of=q.asked_on), question_time(q.question, q.asked_on))
        for q in questions:
            qtime = question_time(q.question, q.asked_on)
            for v, r in retrievers.items():
                t0 = time.perf_counter()
                r.search(q.question, K, SearchFilters(as_of=q.asked_on), qtime)
                times[v].append((time.perf_counter() - t0) * 1000)
    out = {"index": str(args.index), "chunks": chunks, "queries": len(questions)}
    for v, ts in times.items():
        out[v] = {"p50_ms": round(statistics.median(ts), 1), "p95_ms": round(float(np.percentile(ts, 95)), 1)}
    print(json.dumps(out, indent=1))


# ------------------------------------------------------------------ report


def cmd_report(args: argparse.Namespace) -> None:
    depth_dumped, pools = read_pools(args.pools)
    depth = args.depth or depth_dumped
    model_path = args.model or SHIPPED
    model = parse(json.loads(Path(model_path).read_text()))
    d = design(pools, depth)
    base, learned = evaluate(d, list(range(len(pools))), model.predict)
    bm25 = [first_hit(p.answer, p.bm25) for p in pools]
    in_pool = [1 if any(c.label for c in cs) else None for cs in d.cands]
    tops_fusion = [top_k(cs, qtime=qt) for cs, qt in zip(d.cands, d.qtimes)]
    tops_ranker = [top_k(cs, np.argsort(-model.predict(x), kind="stable"), qt) if len(cs) else []
                   for cs, x, qt in zip(d.cands, d.X, d.qtimes)]
    result = {
        "time_faithful": {"fusion": time_faithful(pools, tops_fusion), "ranker": time_faithful(pools, tops_ranker)},
        "pools": str(args.pools),
        "depth": depth,
        "model": str(model_path),
        "bm25": table(pools, bm25),
        "fusion": table(pools, base),
        "ranker": table(pools, learned),
        "answer_in_pool": {g: v["R@1"] for g, v in table(pools, in_pool).items()},
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    groups = [g for g in result["fusion"] if "Q" in g] + sorted(g for g in result["fusion"] if "Q" not in g and g != "all") + ["all"]
    print(f"{'group':9} {'n':>4} | {'bm25 R@1':>8} {'R@5':>6} | {'fusion R@1':>10} {'R@5':>6} {'R@10':>6} {'MRR':>6} | "
          f"{'ranker R@1':>10} {'R@5':>6} {'R@10':>6} {'MRR':>6} | {'in pool':>7}")
    for g in groups:
        b, f, r = result["bm25"][g], result["fusion"][g], result["ranker"][g]
        print(f"{g:9} {f['n']:>4} | {b['R@1']:>8.3f} {b['R@5']:>6.3f} | {f['R@1']:>10.3f} {f['R@5']:>6.3f} {f['R@10']:>6.3f} "
              f"{f['MRR@10']:>6.3f} | {r['R@1']:>10.3f} {r['R@5']:>6.3f} {r['R@10']:>6.3f} {r['MRR@10']:>6.3f} | "
              f"{result['answer_in_pool'][g]:>7.3f}")
    print("\ncued questions whose top result is inside their window (issue #17's time figure):")
    for g, v in result["time_faithful"]["fusion"].items():
        print(f"  {g:9} {v['cued']:>4} cued: fusion {v['top_in_window']:.3f}  ranker {result['time_faithful']['ranker'][g]['top_in_window']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pools", help="dump candidate pools of a dataset against a qa index")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pool", type=int, default=100, help="candidates from each of dense and BM25")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--questions-before", default=None, help="only questions asked before this day (YYYY-MM-DD)")
    t = sub.add_parser("train", help="fit the ranker on training pools and write the model file")
    t.add_argument("--train", type=Path, required=True)
    t.add_argument("--train-label", default=None, help="how to name the training data in the model file")
    t.add_argument("--depth", type=int, default=50, help="candidates from each ranking (qa's rank_candidates)")
    t.add_argument("--folds", type=int, default=4)
    t.add_argument("--configs", nargs="*", default=None, help="JSON configs to cross-validate instead of the default list")
    t.add_argument("--noise", type=Path, required=True, help="chance rates of the training questions (the noise step)")
    t.add_argument("--chance-threshold", type=float, default=0.005, help="chance rate that marks a question chance-prone")
    t.add_argument("--filter-chance", action="store_true", help="fit without the chance-prone questions")
    t.add_argument("--out", type=Path, default=SHIPPED)
    a = sub.add_parser("ablate", help="cross-validate the ranker with groups of features blanked")
    a.add_argument("--train", type=Path, required=True)
    a.add_argument("--depth", type=int, default=50)
    a.add_argument("--folds", type=int, default=4)
    a.add_argument("--config", default='{"kind": "trees", "rounds": 150}')
    a.add_argument("groups", nargs="+", help="comma-separated feature names blanked together, e.g. sent_cover,sent_fit")
    lat = sub.add_parser("latency", help="warm search p50/p95 on an index, learned ranker on and off")
    lat.add_argument("--dataset", type=Path, required=True)
    lat.add_argument("--index", type=Path, required=True)
    lat.add_argument("--queries", type=int, default=200)
    z = sub.add_parser("noise", help="how often a dataset's gold answers occur in unrelated news (label noise)")
    z.add_argument("--dataset", type=Path, required=True)
    z.add_argument("--articles", type=Path, default=None, help="default: DATASET/articles.jsonl(.gz)")
    z.add_argument("--pool-size", type=int, default=80, help="candidates per pool (qa's default pools hold ~80)")
    z.add_argument("--chance-threshold", type=float, default=0.005)
    z.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="fusion vs BM25 vs the ranker on a dataset's pools")
    r.add_argument("--pools", type=Path, required=True)
    r.add_argument("--depth", type=int, default=50)
    r.add_argument("--model", type=Path, default=None)
    r.add_argument("--json", action="store_true")
    for sp in (t, a):
        sp.add_argument("--label", choices=("gold", "evidence"), default="gold",
                        help="what to fit: the gold-answer label, or only gold positives sharing the evidence's words")
        sp.add_argument("--evidence-share", type=float, default=0.3,
                        help="with --label evidence: the share of the evidence's content words a positive holds "
                        "(0.3 fitted the shipped model)")
        sp.add_argument("--dataset", type=Path, default=None, help="the training set (its questions' evidence)")
    args = ap.parse_args()
    {"pools": cmd_pools, "noise": cmd_noise, "train": cmd_train, "ablate": cmd_ablate, "latency": cmd_latency, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
