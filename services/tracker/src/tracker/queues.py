"""Queue depths and consumer counts straight from RabbitMQ (no management plugin).

A passive declare answers with the queue's message and consumer counts. A missing queue
closes the channel it was asked on, so each queue gets its own short-lived channel on
one connection kept for the dashboard (never the broker's consuming channels).
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from aio_pika.exceptions import AMQPError

from shared.topology import Topology


class QueueInspector:
    def __init__(self, amqp_url: str, topology: Topology) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self._connection: AbstractRobustConnection | None = None

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _connect(self) -> AbstractRobustConnection:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect_robust(self.amqp_url)
        return self._connection

    async def _depth(self, name: str) -> dict[str, Any]:
        connection = await self._connect()
        try:
            channel = await connection.channel()
        except (AMQPError, OSError) as exc:
            return {"name": name, "error": type(exc).__name__}
        try:
            queue = await channel.declare_queue(name, passive=True)
            result = queue.declaration_result
            return {
                "name": name,
                "messages": result.message_count,
                "consumers": result.consumer_count,
            }
        except (AMQPError, OSError):
            return {"name": name, "missing": True}
        finally:
            if not channel.is_closed:
                await channel.close()

    async def snapshot(self) -> list[dict[str, Any]]:
        """Every consuming queue with its dead-letter queue, as the topology names them."""
        rows = []
        for base in sorted(self.topology.queues):
            queue = await self._depth(self.topology.queue(base))
            dlq = await self._depth(self.topology.dlq(base))
            rows.append({"queue": base, **_counts(queue, ""), **_counts(dlq, "dlq_")})
        return rows


def _counts(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in row.items()}
