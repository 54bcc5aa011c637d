"""Dedicated RabbitMQ and Redis instances for drills that restart or cluster them.

The machine's own servers are shared by every test; a drill that restarts a broker or
a store gets its own instance on other loopback ports, so nothing else is disturbed.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis import Redis as SyncRedis
from redis.exceptions import BusyLoadingError

RABBIT_BIN = "/usr/lib/rabbitmq/bin"
# A dedicated node's Erlang distribution port is its AMQP port + this (see DedicatedRabbit).
DIST_OFFSET = 20000


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == up:
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} not {'open' if up else 'closed'} within {timeout}s")


def free_rabbit_port() -> int:
    """A free AMQP port whose distribution port (+DIST_OFFSET) is free and valid too."""
    for _ in range(200):
        port = random.randrange(20000, 65535 - DIST_OFFSET)
        if _bindable(port) and _bindable(port + DIST_OFFSET):
            return port
    raise RuntimeError("no free port pair for a dedicated RabbitMQ node")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class DedicatedRabbit:
    """A RabbitMQ node of its own (own name, port, data directory), run as user rabbitmq."""

    def __init__(self, port: int, name: str | None = None) -> None:
        self.port = port
        self.node = f"{name or f'drill{port}'}@localhost"
        self.dir = Path(tempfile.mkdtemp(prefix=f"rmq-{port}-"))
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        shutil.chown(self.dir, "rabbitmq", "rabbitmq")
        for child in self.dir.iterdir():
            shutil.chown(child, "rabbitmq", "rabbitmq")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _as_rabbitmq(self, command: str) -> str:
        """Run a RabbitMQ script as user rabbitmq for this node; its standard output."""
        env = {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + DIST_OFFSET),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
        }
        assignments = " ".join(f"{k}={v}" for k, v in env.items())
        done = subprocess.run(
            ["su", "rabbitmq", "-s", "/bin/sh", "-c", f"env {assignments} {RABBIT_BIN}/{command}"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return done.stdout.decode(errors="replace")

    def start(self, timeout: float = 90) -> None:
        self._as_rabbitmq("rabbitmq-server -detached")
        wait_port(self.port, up=True, timeout=timeout)
        self._as_rabbitmq(f"rabbitmqctl -n {self.node} await_startup")

    def stop(self) -> None:
        if port_open(self.port):
            self._as_rabbitmq(f"rabbitmqctl -n {self.node} stop")
        wait_port(self.port, up=False, timeout=60)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def dedicated_rabbit(port: int) -> Iterator[DedicatedRabbit]:
    rabbit = DedicatedRabbit(port)
    rabbit.start()
    try:
        yield rabbit
    finally:
        rabbit.destroy()


class DedicatedRedis:
    """A redis-server of its own; with ``aof`` it persists every write (fsync always)."""

    def __init__(self, port: int, aof: bool = True, cluster: bool = False) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix=f"redis-{port}-"))
        self.args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        self.args += ["--save", ""]
        if aof:
            self.args += ["--appendonly", "yes", "--appendfsync", "always"]
        if cluster:
            self.args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, up=True, timeout=15)
        self._wait_loaded(timeout=30)

    def _wait_loaded(self, timeout: float) -> None:
        """The port opens before the AOF is read back; until then commands get LOADING.
        (The services' clients retry that; a test reading counts must not race it.)"""
        client = SyncRedis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the AOF and exits
            self.proc.wait(15)
        wait_port(self.port, up=False, timeout=15)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def dedicated_redis(port: int, aof: bool = True) -> Iterator[DedicatedRedis]:
    redis = DedicatedRedis(port, aof=aof)
    redis.start()
    try:
        yield redis
    finally:
        redis.destroy()


@contextmanager
def redis_cluster(first_port: int, masters: int = 3) -> Iterator[list[DedicatedRedis]]:
    """A real Redis Cluster of ``masters`` nodes on loopback ports first_port.. ."""
    nodes = [DedicatedRedis(first_port + i, aof=False, cluster=True) for i in range(masters)]
    try:
        for node in nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
            env={**os.environ},
        )
        _wait_cluster_ok(nodes[0].port)
        yield nodes
    finally:
        for node in nodes:
            node.destroy()


def _wait_cluster_ok(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if "cluster_state:ok" in out:
            return
        time.sleep(0.2)
    raise TimeoutError("redis cluster did not reach cluster_state:ok")
