"""CLI start-up and cold `qa ask`, each in a fresh process, against the obvious alternative.

  qa --help / qa index stats   lazy imports: no torch, Chroma or LangChain
  eager imports                what every command would pay with top-level imports
                               (python -c "import torch, chromadb, langchain_core, sentence_transformers")
  qa ask (cold)                new process, small index: imports + model load + search + answer
  warm ask                     the same question answered again in one process (the server case)

    python bench/startup.py --index index        # an index of the bundled samples
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUESTION = "When did the central bank last cut interest rates?"


def timed(cmd: list[str], reps: int) -> tuple[float, float]:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    qa = str(Path(sys.executable).parent / "qa")
    rows = {
        "qa --help": timed([qa, "--help"], args.reps),
        "qa index stats": timed([qa, "index", "stats", "--index", str(args.index)], args.reps),
        "eager imports": timed([sys.executable, "-c", "import torch, chromadb, langchain_core, sentence_transformers"], args.reps),
        "qa ask (cold)": timed([qa, "ask", QUESTION, "--index", str(args.index), "--json"], args.reps),
    }
    from qa.assistant import Assistant
    from qa.settings import Settings

    bot = Assistant(Settings(index=args.index))
    bot.ask(QUESTION)
    warm = []
    for _ in range(20):
        t = time.perf_counter()
        bot.ask(QUESTION)
        warm.append(time.perf_counter() - t)
    rows["qa ask (warm, in process)"] = (statistics.median(warm), max(warm))
    print(f"{'command':28} {'p50 s':>7} {'max s':>7}")
    for name, (p50, worst) in rows.items():
        print(f"{name:28} {p50:>7.3f} {worst:>7.3f}")
    print(f"eager imports / qa --help: {rows['eager imports'][0] / rows['qa --help'][0]:.1f}x")


if __name__ == "__main__":
    main()
