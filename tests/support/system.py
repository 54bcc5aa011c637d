"""The whole system as real processes (as scripts/run-system.sh runs it), for e2e tests
and drills. Every process is stopped when the context ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import ROOT, free_port, wait_healthy

SERVICES = ("scheduler", "notifier", "tracker")


@dataclass
class ServiceProc:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 40) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.name.split("#")[0]],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        log.close()
        self.starts += 1
        wait_healthy(self.proc, self.port, timeout, why=lambda: f"{self.name}: {self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class System:
    namespace: str
    amqp_url: str
    redis_url: str
    log_dir: Path
    procs: dict[str, ServiceProc] = field(default_factory=dict)

    def add(self, name: str, extra_env: dict[str, str] | None = None) -> ServiceProc:
        """Add a service (``scheduler#2`` for a second replica) and start it."""
        module = name.split("#", maxsplit=1)[0]
        prefix = f"{module.upper()}_"
        # A caller may fix the port (a webhook URL must name it before the process starts).
        port = int((extra_env or {}).get(f"{prefix}HTTP_PORT") or free_port())
        env = {
            f"{prefix}NAMESPACE": self.namespace,
            f"{prefix}AMQP_URL": self.amqp_url,
            f"{prefix}REDIS_URL": self.redis_url,
            f"{prefix}HTTP_PORT": str(port),
            f"{prefix}LOG_FORMAT": "json",
            **(extra_env or {}),
        }
        proc = ServiceProc(name, port, env, self.log_dir / f"{name.replace('#', '-')}.log")
        self.procs[name] = proc
        proc.start()
        return proc

    def restarts(self) -> dict[str, int]:
        return {name: p.starts - 1 for name, p in self.procs.items()}

    def all_alive(self) -> bool:
        return all(p.alive() for p in self.procs.values())


@contextmanager
def running_system(
    namespace: str,
    amqp_url: str,
    redis_url: str,
    log_dir: Path,
    env: dict[str, dict[str, str]] | None = None,
    services: tuple[str, ...] = SERVICES,
) -> Iterator[System]:
    system = System(namespace, amqp_url, redis_url, log_dir)
    with ExitStack() as stack:
        stack.callback(lambda: [p.stop() for p in reversed(list(system.procs.values()))])
        for name in services:
            system.add(name, (env or {}).get(name.split("#")[0]))
        yield system
