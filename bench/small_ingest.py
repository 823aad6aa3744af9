"""A small ingest into a big index: what one `qa ingest` of a few new articles costs, end to end.

Copies the live generation of an existing index (e.g. the 106k-chunk training index) once per
variant, then times a cold `qa ingest FILE --json` process of the next ``--articles`` articles of a
dataset, for this checkout's qa and for any other source trees given (``--baseline SRC``: e.g. a
`git worktree` of the previous commit), in the same run, ``--repeats`` times each (a fresh copy
every time). Also reports the bare encoding time of the same chunks with the index's ONNX export,
in process, so "overhead" is what the ingest costs beyond its own encoding; and, per cold run, the
process's wall time minus the bare encoding measured in the same round (the machine drifts), and
minus the time its own encode calls took.

    python bench/small_ingest.py --index /work/cache/train-index --articles 10 \
        --baseline /tmp/qa-base/src --repeats 3 [--warm 4] [--baseline-index OLDER_LAYOUT_INDEX]

``--warm N`` also times N ingests in a row in one process (imports paid), each beyond its own
encoding. ``--baseline-index``: the baselines ingest into this index instead (an index in the
layout they write, e.g. an older qa's single Chroma store).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"


def copy_index(index: Path, dst: Path) -> None:
    """The live generation, CURRENT, the exported model and Chroma's parts (a copy: the ingest
    writes a new generation)."""
    gen = (index / "CURRENT").read_text().strip()
    dst.mkdir(parents=True)
    shutil.copytree(index / gen, dst / gen)
    for shared in ("models", "chroma-parts"):  # the export; Chroma's parts (shared by generations)
        if (index / shared).is_dir():
            shutil.copytree(index / shared, dst / shared)
    (dst / "CURRENT").write_text(gen + "\n")
    os.sync()  # else the copy's GBs of dirty pages are written back during the timed ingest, and its fsyncs wait


def child_env(src: Path) -> dict[str, str]:
    """A child's environment: the qa in ``src``, its bytecode cached (a pip-installed qa has it compiled;
    a PYTHONDONTWRITEBYTECODE environment would make every cold process compile qa's sources again)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def encode_seconds(articles: Path, index: Path) -> tuple[int, float]:
    """(chunks, seconds) of encoding exactly the chunks qa embeds for ``articles``, warm."""
    sys.path.insert(0, str(HERE))
    from encoders import chunk_texts  # bench/encoders.py, beside this script

    from qa.embeddings import canonical_model_name
    from qa.onnx_encoder import OnnxEncoder, paths
    from qa.settings import DEFAULT_MODEL

    texts = chunk_texts(articles)
    onnx_file, tok_file = paths(index, canonical_model_name(DEFAULT_MODEL))
    enc = OnnxEncoder(DEFAULT_MODEL, onnx_file, tok_file)
    enc.encode(texts[:8])
    t = time.perf_counter()
    enc.encode(texts)
    return len(texts), time.perf_counter() - t


TIMED_ENCODE = """
import atexit, json, sys, time
from pathlib import Path
import qa.onnx_encoder as oe
spent = []  # seconds in each encode call of this process
encode = oe.OnnxEncoder.encode
def timed(self, *a, **kw):
    t = time.perf_counter(); out = encode(self, *a, **kw); spent.append(time.perf_counter() - t); return out
oe.OnnxEncoder.encode = timed
"""

COLD_CHILD = TIMED_ENCODE + """
atexit.register(lambda: sys.stderr.write("ENCODE_S %f\\n" % sum(spent)))
sys.argv = ["qa", "ingest", sys.argv[1], "--index", sys.argv[2], "--json"]
import runpy
runpy.run_module("qa", run_name="__main__")
"""

WARM_CHILD = TIMED_ENCODE + """
from qa.assistant import Assistant
from qa.settings import Settings
bot = Assistant(Settings(index=Path(sys.argv[1])))
for f in sys.argv[2:]:
    spent.clear(); t = time.perf_counter(); bot.ingest([f]); wall = time.perf_counter() - t
    print(json.dumps({"wall": wall, "encode": sum(spent)}), flush=True)
bot.close()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--baseline-index", type=Path, help="the index the baselines ingest into (default --index): "
                    "e.g. the same index in the layout the baseline writes")
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/realtimeqa-2023h1"))
    ap.add_argument("--articles", type=int, default=10)
    ap.add_argument("--skip", type=int, default=0, help="articles of the dataset to pass over first")
    ap.add_argument("--baseline", type=Path, action="append", default=[], help="another qa source tree (…/src)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warm", type=int, default=0, help="also: this many ingests in a row in one warm process "
                    "(as `qa serve`'s POST /ingest and `qa watch` run them), each timed beyond its own encoding")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qa-small-ingest-"))
    every = (args.dataset / "articles.jsonl").read_text().splitlines()
    lines = every[args.skip : args.skip + args.articles]
    articles = work / "new.jsonl"
    articles.write_text("\n".join(lines) + "\n")
    batches = []
    for k in range(args.warm):
        batch = work / f"warm-{k}.jsonl"
        first = args.skip + args.articles * (k + 1)
        batch.write_text("\n".join(every[first : first + args.articles]) + "\n")
        batches.append(str(batch))
    variants = {"this": HERE, **{f"baseline:{p}": p for p in args.baseline}}
    index_of = {name: args.index if name == "this" else (args.baseline_index or args.index) for name in variants}
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    in_child: dict[str, list[float]] = {name: [] for name in variants}  # wall minus the process's own encode calls
    warm: dict[str, list[list[float]]] = {name: [] for name in variants}  # beyond encoding, per run of the warm process
    paired: dict[str, list[float]] = {name: [] for name in variants}  # wall minus the same round's bare encoding
    encodings: list[float] = []
    for name, src in variants.items():  # once, untimed: each tree's bytecode written, as an installed package has it
        target = work / f"index-warm-up-{abs(hash(name))}"
        copy_index(index_of[name], target)
        subprocess.run([sys.executable, "-c", COLD_CHILD, str(articles), str(target)],
                       env=child_env(src), check=True, capture_output=True)
        shutil.rmtree(target)
    for r in range(args.repeats):
        round_walls: dict[str, float] = {}
        for name, src in variants.items():  # interleaved: drift on the machine hits both alike
            target = work / f"index-{r}-{len(seconds[name])}-{abs(hash(name))}"
            copy_index(index_of[name], target)
            env = child_env(src)
            t = time.perf_counter()
            err = subprocess.run([sys.executable, "-c", COLD_CHILD, str(articles), str(target)],
                                 env=env, check=True, capture_output=True, text=True).stderr
            seconds[name].append(time.perf_counter() - t)
            round_walls[name] = seconds[name][-1]
            in_child[name].append(seconds[name][-1] - float(err.rsplit("ENCODE_S ", 1)[1].split()[0]))
            shutil.rmtree(target)
            if batches:
                copy_index(index_of[name], target)
                out = subprocess.run([sys.executable, "-c", WARM_CHILD, str(target), *batches],
                                     env=env, check=True, capture_output=True, text=True).stdout
                warm[name].append([round(d["wall"] - d["encode"], 2) for d in map(json.loads, out.splitlines())])
                shutil.rmtree(target)
        chunks, enc_r = encode_seconds(articles, args.index)  # this round's bare encoding (the machine drifts)
        encodings.append(enc_r)
        for name, wall in round_walls.items():
            paired[name].append(wall - enc_r)
    enc = statistics.median(encodings)
    report = {
        "index": str(args.index), "articles": args.articles, "chunks": chunks, "encode_s": round(enc, 2),
        "encode_runs_s": [round(x, 2) for x in encodings],
        "variants": {n: {"p50_s": round(statistics.median(v), 2), "runs_s": [round(x, 2) for x in v],
                         "overhead_s": round(statistics.median(v) - enc, 2),
                         "beyond_encoding_paired_s": [round(x, 2) for x in paired[n]],
                         "beyond_encoding_paired_p50_s": round(statistics.median(paired[n]), 2),
                         "beyond_own_encode_calls_s": sorted(round(x, 2) for x in in_child[n]),
                         "beyond_own_encode_calls_p50_s": round(statistics.median(in_child[n]), 2),
                         **({"warm_beyond_encoding_s": warm[n],
                             "warm_p50_after_first_s": round(statistics.median(x for run in warm[n] for x in run[1:]), 2)}
                            if batches and args.warm > 1 else {})}
                     for n, v in seconds.items()},
    }
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print(f"{args.articles} articles, {chunks} chunks; their encoding alone: {enc:.2f} s")
    for n, v in report["variants"].items():
        print(f"{n:<40} p50 {v['p50_s']:>6} s   beyond encoding {v['overhead_s']:>6} s   runs {v['runs_s']}")
        print(f"{'':<40} beyond the same round's bare encoding: p50 {v['beyond_encoding_paired_p50_s']} s "
              f"{v['beyond_encoding_paired_s']}")
        print(f"{'':<40} beyond the process's own encode calls: p50 {v['beyond_own_encode_calls_p50_s']} s "
              f"{v['beyond_own_encode_calls_s']}")
        if "warm_beyond_encoding_s" in v:
            print(f"{'':<40} warm process, beyond encoding: {v['warm_beyond_encoding_s']} (p50 after the first {v['warm_p50_after_first_s']} s)")


if __name__ == "__main__":
    main()
