#!/usr/bin/env bash
# The test command: install everything, start RabbitMQ and Redis if needed, then run
# ruff, mypy (strict), the contract drift check and pytest (unit + real-broker tests).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not drill"` or `-k notifier`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-infra.sh
ensure_chromium  # for the dashboard browser test (-m browser)

"${UV[@]}" sync --frozen --quiet
run() { "${UV[@]}" run --frozen --no-sync "$@"; }

# One command per line: under `set -e` a failure on the left of `&&` would not stop the script.
echo "== ruff"
run ruff check .
run ruff format --check .
echo "== mypy"; run mypy
echo "== contract documents"; run python scripts/contract_docs.py check
echo "== pytest"; run pytest "$@"
