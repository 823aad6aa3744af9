#!/usr/bin/env bash
# Set up, ingest the bundled sample articles into ./index, then ask a question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
qa ingest samples/
qa ask "When did Varga and Hale last speak?" --as-of 2025-03-10
