"""A three-node RabbitMQ cluster on this machine, and a TCP balancer in front of it.

The machine's own node (port 5672, used by every other test) is never touched: each
cluster node is a ``DedicatedRabbit`` with its own node name, AMQP and distribution
ports, data, log and config directories. They run as user ``rabbitmq``, so they share
the Erlang cookie in its home directory, which is what lets them cluster.

The services see one address, the balancer's, as they would see an L4 load balancer
(or a DNS name over the nodes) in production: a connection goes to the next node that
accepts it, and when a node dies its connections are closed so that the clients'
robust connections reconnect through the balancer to a live node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.servers import (
    DIST_OFFSET,
    DedicatedRabbit,
    free_rabbit_port,
    port_open,
    wait_port,
)

NODES = 3


class ClusterNode(DedicatedRabbit):
    """A cluster member: can be SIGKILLed by its OS pid and started again on its data."""

    def start(self, timeout: float = 120) -> None:
        """Start the node on its data and wait until it runs. On a busy machine
        ``await_startup`` can fail to reach a node that is still booting (exit 69), so it
        is asked again until the deadline; a node that never comes up shows its log."""
        deadline = time.monotonic() + timeout
        self._as_rabbitmq("rabbitmq-server -detached")
        wait_port(self.port, up=True, timeout=timeout)
        while True:
            try:
                self.ctl("await_startup --timeout 30")
                return
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{exc}\n{self.log_tail()}") from None
                time.sleep(1)

    def log_tail(self, lines: int = 20) -> str:
        log = self.dir / "log" / f"{self.node}.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def ctl(self, args: str) -> str:
        """``rabbitmqctl -n <this node> <args>``; its standard output (raises on failure,
        with the tool's error output in the exception)."""
        try:
            return self._as_rabbitmq(f"rabbitmqctl -n {self.node} {args}")
        except subprocess.CalledProcessError as exc:
            error = (exc.stderr or b"").decode(errors="replace").strip()
            raise RuntimeError(f"rabbitmqctl {args} on {self.node}: {error}") from None

    @property
    def dist_port(self) -> int:
        return self.port + DIST_OFFSET

    def os_pid(self) -> int:
        """The pid of the node's Erlang VM (beam.smp), as the node writes it at boot."""
        text = (self.dir / "pid").read_text().strip() if (self.dir / "pid").exists() else ""
        if not text:
            text = self.ctl("eval 'list_to_integer(os:getpid()).'").strip()
        return int(text)

    def kill(self) -> None:
        """SIGKILL the VM: no goodbye to its peers or clients, as when a host dies. The
        kernel closes its sockets, so peers and the balancer see the node gone at once."""
        pid = self.os_pid()
        if not _runs_node(pid, self.node):
            raise RuntimeError(f"pid {pid} is not {self.node}'s VM")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        wait_port(self.port, up=False, timeout=30)
        (self.dir / "pid").unlink(missing_ok=True)

    def join(self, seed: ClusterNode) -> None:
        self.ctl("stop_app")
        self.ctl(f"join_cluster {seed.node}")
        self.ctl("start_app")

    def stop(self) -> None:
        """Stop the node; one that will not stop, or never finished starting, is killed."""
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if port_open(self.port):
                self.ctl("stop")
        pid_file = self.dir / "pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            if _pid_alive(pid) and _runs_node(pid, self.node):  # never a reused pid
                os.kill(pid, signal.SIGKILL)
        wait_port(self.port, up=False, timeout=60)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; its parent (su's shell) is gone, init reaps it.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][:1] != "Z"
    return False


def _runs_node(pid: int, node: str) -> bool:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/environ", "rb") as environ:
        return f"RABBITMQ_NODENAME={node}".encode() in environ.read().split(b"\0")
    return False


@dataclass
class QueueState:
    name: str
    type: str
    messages: int
    leader: str | None
    members: list[str]
    online: list[str]
    home: str | None  # the node of a classic queue's process (its leader for a quorum one)
    policy: str | None


@dataclass
class RabbitCluster:
    nodes: list[ClusterNode]

    def node(self, name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.node == name)

    def running(self) -> list[ClusterNode]:
        return [n for n in self.nodes if port_open(n.port)]

    def running_nodes(self, via: ClusterNode | None = None) -> list[str]:
        """Node names the cluster reports as running (asked of ``via`` or a live node)."""
        asker = via or self.running()[0]
        status = json.loads(asker.ctl("cluster_status --formatter json"))
        return sorted(status.get("running_nodes", []))

    def queues(self) -> dict[str, QueueState]:
        """Every queue of the default vhost, with its leader and members (quorum queues)."""
        asker = self.running()[0]
        columns = "name type messages leader members online policy"
        out = asker.ctl(f"list_queues {columns} --formatter json -q")
        # JSON shows a pid without its node (#PID<10987.721.0>); the table names it.
        table = asker.ctl("list_queues name pid -q --no-table-headers")
        homes = dict(line.split("\t", 1) for line in table.splitlines() if "\t" in line)
        states = {}
        for row in json.loads(out or "[]"):
            states[row["name"]] = QueueState(
                name=row["name"],
                type=str(row.get("type", "")),
                messages=int(row.get("messages") or 0),
                leader=_node_or_none(row.get("leader")),
                members=_node_list(row.get("members")),
                online=_node_list(row.get("online")),
                home=_pid_node(homes.get(row["name"])),
                policy=_node_or_none(row.get("policy")),
            )
        return states

    def set_policy(self, name: str, pattern: str, definition: dict[str, Any]) -> None:
        """A cluster-wide policy on the default vhost (every node applies it)."""
        body = json.dumps(definition)
        self.running()[0].ctl(f"set_policy --apply-to queues {name} '{pattern}' '{body}'")

    def start_node(self, node: ClusterNode, timeout: float = 120) -> None:
        """Start a node again on its data; it rejoins by itself. Returns when the cluster
        (asked of another node) lists it as running."""
        node.start(timeout)
        deadline = time.monotonic() + timeout
        others = [n for n in self.nodes if n is not node and port_open(n.port)]
        while node.node not in self.running_nodes(others[0] if others else node):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.node} did not rejoin within {timeout}s")
            time.sleep(0.5)


def _node_or_none(value: Any) -> str | None:
    return str(value) if value and value != "" else None


def _pid_node(value: Any) -> str | None:
    """``<bsdrill1-20973@localhost.1796326692.1208.0>`` -> ``bsdrill1-20973@localhost``."""
    found = re.search(r"([^<>\s@]+@[^.<>\s]+)", str(value or ""))
    return found.group(1) if found else None


def _node_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    return []


@contextmanager
def rabbit_cluster(prefix: str = "bsdrill", size: int = NODES) -> Iterator[RabbitCluster]:
    """Three nodes started side by side, the second and third joined to the first;
    every node is stopped and its directory removed at the end, whatever happened."""
    nodes: list[ClusterNode] = []
    try:
        for i in range(size):
            port = _free_port_besides(n.port for n in nodes)
            nodes.append(ClusterNode(port, f"{prefix}{i + 1}-{port}"))
        with ThreadPoolExecutor(size) as pool:
            list(pool.map(lambda n: n.start(), nodes))
        for node in nodes[1:]:
            node.join(nodes[0])
        cluster = RabbitCluster(nodes)
        members = cluster.running_nodes()
        if members != sorted(n.node for n in nodes):
            raise RuntimeError(f"cluster did not form: running {members}")
        yield cluster
    finally:
        with ThreadPoolExecutor(max(1, len(nodes))) as pool:
            list(pool.map(lambda n: n.destroy(), nodes))


def _free_port_besides(taken: Any) -> int:
    used = set(taken)
    while (port := free_rabbit_port()) in used:
        pass
    return port


@dataclass
class Balancer:
    """A round-robin TCP balancer on 127.0.0.1 in a thread of its own (so that traffic
    through it does not wait on the test's event loop). A connection goes to the next
    backend that accepts it; when either side closes, so does the other."""

    backends: list[int]
    port: int = 0
    connections: int = 0
    refused: int = 0
    _next: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="amqp-balancer", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("balancer did not start")

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            client_w.close()
            return
        self.connections += 1
        node_r, node_w = upstream
        await asyncio.gather(_pipe(client_r, node_w), _pipe(node_r, client_w))

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            port = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            except (OSError, TimeoutError):
                self.refused += 1
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        # Closing the other direction's writer too ends its pipe: a dead node's client
        # sees its connection drop instead of a half-open socket.
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


@contextmanager
def balancer(backends: list[int]) -> Iterator[Balancer]:
    front = Balancer(backends)
    front.start()
    try:
        yield front
    finally:
        front.stop()
