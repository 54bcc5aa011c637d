"""/readyz under a running service process whose Redis, then RabbitMQ, goes away and comes
back: 503 naming the dependency while /healthz stays 200, then 200 again by itself.

The service runs against a Redis and a RabbitMQ node of its own (own ports and data
directories), so stopping them disturbs no other test; every process is stopped at the end.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.infra import unique_namespace
from tests.support.servers import DedicatedRabbit, DedicatedRedis, free_rabbit_port
from tests.support.services import free_port, service_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def probe(port: int, path: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    return response.status_code, response.json()


def wait_ready(port: int, failed: list[str], timeout: float = 60) -> dict[str, Any]:
    """Until /readyz answers with exactly ``failed`` down (200 when none)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = probe(port, "/readyz")
        if body["failed"] == failed and status == (503 if failed else 200):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz never reported {failed} down: {status} {body}")
        time.sleep(0.2)


def test_readyz_follows_redis_and_the_broker_healthz_does_not(tmp_path: Path) -> None:
    with ExitStack() as stack:
        redis = DedicatedRedis(free_port(), aof=False)
        stack.callback(redis.destroy)
        redis.start()
        rabbit = DedicatedRabbit(free_rabbit_port())
        stack.callback(rabbit.destroy)
        rabbit.start()
        port = free_port()
        env = {
            "TRACKER_AMQP_URL": rabbit.url,
            "TRACKER_REDIS_URL": redis.url,
            "TRACKER_NAMESPACE": unique_namespace("ready"),
            "TRACKER_HTTP_PORT": str(port),
            "TRACKER_LOG_FORMAT": "json",
        }
        stack.enter_context(service_process("tracker", env, port, tmp_path / "tracker.log"))
        assert wait_ready(port, [])["checks"] == {"rabbitmq": "ok", "redis": "ok"}

        redis.stop()
        body = wait_ready(port, ["redis"], timeout=20)
        assert body["checks"]["rabbitmq"] == "ok"
        assert probe(port, "/healthz")[0] == 200
        redis.start()
        wait_ready(port, [])

        rabbit.stop()
        body = wait_ready(port, ["rabbitmq"], timeout=20)
        assert body["checks"]["redis"] == "ok"
        assert probe(port, "/healthz")[0] == 200
        rabbit.start()
        wait_ready(port, [])
