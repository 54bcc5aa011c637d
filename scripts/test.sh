#!/usr/bin/env bash
# The test command: install everything, start RabbitMQ and Redis if needed, then run
# ruff, mypy (strict), the contract drift check and pytest: first every test but the
# failure drills (three workers, ~2 min), then the drills (two workers, ~10 min).
# Arguments replace that and go to one pytest run, e.g. `scripts/test.sh -m "not drill"`,
# `scripts/test.sh -m drill -n 2 --dist loadgroup` or `scripts/test.sh -k notifier`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-infra.sh
ensure_chromium  # for the dashboard browser test (-m browser)
ensure_promtool  # for the alert rule tests (tests/unit/test_alert_rules.py)

"${UV[@]}" sync --frozen --quiet
run() { "${UV[@]}" run --frozen --no-sync "$@"; }

# One command per line: under `set -e` a failure on the left of `&&` would not stop the script.
echo "== ruff"
run ruff check .
run ruff format --check .
echo "== mypy"; run mypy
echo "== contract documents"; run python scripts/contract_docs.py check
if [ "$#" -gt 0 ]; then
  echo "== pytest $*"; run pytest "$@"
else
  # Tests keep to their own namespaces, so they may run side by side.
  echo "== pytest (all but the drills)"; run pytest -n 3 -m "not drill"
  echo "== pytest (failure drills)"
  rm -rf artifacts/drills
  status=0
  run pytest -n 2 --dist loadgroup -m drill || status=$?
  echo "== drill reports"; cat artifacts/drills/*.json 2>/dev/null || echo "(none written)"
  exit "$status"
fi
