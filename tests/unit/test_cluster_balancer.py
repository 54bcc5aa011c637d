"""The cluster drill's TCP balancer: round robin over the nodes that accept, and a
client's connection closed when its node goes away (so robust clients reconnect)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.rabbit_cluster import balancer
from tests.support.services import free_port


class EchoNode:
    """Stands in for a RabbitMQ node: echoes each line with its own name in front."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.append(writer)
        while line := await reader.readline():
            writer.write(f"{self.name}:".encode() + line)
            await writer.drain()
        writer.close()

    async def die(self) -> None:
        """Stop listening and drop every connection, as a SIGKILLed node's kernel does."""
        assert self._server is not None
        self._server.close()
        for writer in self._clients:
            writer.transport.abort()
        await self._server.wait_closed()


@asynccontextmanager
async def echo_nodes(*names: str) -> AsyncIterator[list[EchoNode]]:
    nodes = [EchoNode(name) for name in names]
    for node in nodes:
        await node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            if node._server is not None and node._server.is_serving():
                await node.die()


async def ask(port: int, text: str) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{text}\n".encode())
    answer = await asyncio.wait_for(reader.readline(), 5)
    return answer.decode().strip(), reader, writer


async def test_connections_go_round_robin_to_nodes_that_accept() -> None:
    async with echo_nodes("rabbit-a", "rabbit-b") as (a, b):
        dead = free_port()  # nothing listens there: a node that is down
        with balancer([a.port, dead, b.port]) as front:
            answers = [(await ask(front.port, f"hello-{i}"))[0] for i in range(4)]
    assert answers == [
        "rabbit-a:hello-0",
        "rabbit-b:hello-1",
        "rabbit-a:hello-2",
        "rabbit-b:hello-3",
    ]
    assert front.connections == 4
    assert front.refused == 2  # the dead port, skipped on every other connection


async def test_a_dead_node_closes_its_clients_and_new_ones_go_elsewhere() -> None:
    async with echo_nodes("rabbit-a", "rabbit-b") as (a, b):
        with balancer([a.port, b.port]) as front:
            answer, reader, writer = await ask(front.port, "before")
            assert answer == "rabbit-a:before"
            await a.die()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, not half-open
            writer.close()
            later = [(await ask(front.port, f"after-{i}"))[0] for i in range(2)]
    assert later == ["rabbit-b:after-0", "rabbit-b:after-1"]
