#!/usr/bin/env bash
# Make sure uv, RabbitMQ and Redis are available; start the servers if nothing answers.
# ensure_chromium (for the browser test) and ensure_promtool (for the alert rule tests) are
# defined here and called by scripts/test.sh only.
# Sourced by scripts/test.sh and scripts/run-system.sh. Exits with a clear message naming
# what is missing when it cannot be fixed here.
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then UV=(uv); return; fi
  if python3 -m uv --version >/dev/null 2>&1; then UV=(python3 -m uv); return; fi
  command -v python3 >/dev/null 2>&1 || die "python3 (3.11) is not installed"
  echo "installing uv with pip..." >&2
  python3 -m pip install --quiet uv || die "could not install uv from PyPI (pip install uv)"
  UV=(python3 -m uv)
}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $* with apt-get..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null \
      || die "apt-get could not install $*"
  else
    die "$* not installed and cannot install it here (need root and apt-get)"
  fi
}

wait_port() { # port seconds name
  for _ in $(seq 1 "$(( $2 * 4 ))"); do port_open "$1" && return 0; sleep 0.25; done
  die "$3 did not start listening on 127.0.0.1:$1 within $2s"
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  echo "starting redis-server on 127.0.0.1:6379..." >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 15 "Redis"
}

ensure_rabbitmq() {
  if port_open 5672; then return 0; fi
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  echo "starting rabbitmq-server (detached)..." >&2
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 90 "RabbitMQ"
  # The port opens a little before the node accepts work.
  command -v rabbitmqctl >/dev/null 2>&1 && rabbitmqctl await_startup >/dev/null 2>&1 || true
}

# The dashboard's browser test drives Debian's Chromium (Playwright's own browser download
# does not work offline); only scripts/test.sh calls this.
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

# The alert rules are checked and unit-tested with promtool, from Debian's prometheus
# package (only scripts/test.sh calls this; the tests use nothing else from it).
ensure_promtool() {
  command -v promtool >/dev/null 2>&1 || apt_install prometheus
}

ensure_uv
ensure_redis
ensure_rabbitmq
