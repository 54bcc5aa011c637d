#!/usr/bin/env bash
# Run the whole system locally: RabbitMQ and Redis (started if not answering), the
# scheduler, notifier and tracker as separate processes, and the demo EHR simulator that
# sends a sample assignment and follows its reminder end to end.
#   scripts/run-system.sh            # keep running after the demo; Ctrl-C stops everything
#   scripts/run-system.sh --exit     # stop after the demo (exit code = demo result)
# Environment: BS_NAMESPACE (default "demo"), SCHEDULER_HTTP_PORT/NOTIFIER_.../TRACKER_...
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-infra.sh
"${UV[@]}" sync --frozen --quiet

EXIT_AFTER_DEMO=0
[ "${1:-}" = "--exit" ] && EXIT_AFTER_DEMO=1
NS="${BS_NAMESPACE-demo}"
mkdir -p .run
export SCHEDULER_NAMESPACE="$NS" NOTIFIER_NAMESPACE="$NS" TRACKER_NAMESPACE="$NS"
# The demo runs on the built-in dev-only secrets; outside dev mode the services refuse them.
export BS_DEV_MODE="${BS_DEV_MODE:-true}"
export SCHEDULER_HTTP_PORT="${SCHEDULER_HTTP_PORT:-8001}"
export NOTIFIER_HTTP_PORT="${NOTIFIER_HTTP_PORT:-8002}"
export TRACKER_HTTP_PORT="${TRACKER_HTTP_PORT:-8003}"
export SCHEDULER_LOG_FORMAT=json NOTIFIER_LOG_FORMAT=json TRACKER_LOG_FORMAT=json

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

for svc in scheduler notifier tracker; do
  "${UV[@]}" run --frozen --no-sync python -m "$svc" >".run/$svc.log" 2>&1 &
  pids+=("$!")
done

wait_healthy() { # name port
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null \
       && python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$2/healthz', timeout=1)" 2>/dev/null; then
      echo "$1 is up on http://127.0.0.1:$2 (log: .run/$1.log)"; return 0
    fi
    sleep 0.5
  done
  echo "error: $1 did not become healthy; last log lines:" >&2; tail -20 ".run/$1.log" >&2; exit 1
}
wait_healthy scheduler "$SCHEDULER_HTTP_PORT"
wait_healthy notifier "$NOTIFIER_HTTP_PORT"
wait_healthy tracker "$TRACKER_HTTP_PORT"

set +e
"${UV[@]}" run --frozen --no-sync python scripts/demo_ehr.py --namespace "$NS" ${DEMO_ARGS:-}
demo=$?
set -e
if [ "$EXIT_AFTER_DEMO" = 1 ]; then exit "$demo"; fi
echo "System running (namespace '$NS'). Ctrl-C to stop."
# In dev mode the ops token defaults to dev-only-ops-token (TRACKER_OPS_TOKEN overrides it);
# the fragment signs the page in without putting the token in a request or the history.
echo "Dashboard and console: http://127.0.0.1:$TRACKER_HTTP_PORT/console/clients#token=${TRACKER_OPS_TOKEN:-dev-only-ops-token}"
wait
