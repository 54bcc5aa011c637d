"""Run a service in-process (its real lifespan) or as a real process, and always stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Start the app's lifespan (topology, Redis, broker, loops) and stop it afterwards."""
    async with app.router.lifespan_context(app):
        yield app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def service_process(
    module: str, env: dict[str, str], port: int, log_path: Path | None = None, timeout: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m <module>`` with the given env; waits for /healthz; SIGTERMs at the end."""
    full_env = {**os.environ, **env}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", module], env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
    )
    try:
        wait_healthy(proc, port, timeout)
        yield proc
    finally:
        stop_process(proc)
        if log_path:
            out.close()  # type: ignore[union-attr]


def wait_healthy(
    proc: subprocess.Popen[bytes], port: int, timeout: float, why: Callable[[], str] = str
) -> None:
    """Until the process answers /healthz; ``why()`` (a log tail, say) goes into errors."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with code {proc.returncode}: {why()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"service on port {port} not healthy within {timeout}s: {why()}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def async_wait_healthy(port: int, timeout: float = 30) -> None:
    async with httpx.AsyncClient() as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"service on port {port} not healthy within {timeout}s")
