"""An aiohttp server on a free loopback port: what the provider fakes have in common."""

from __future__ import annotations

from aiohttp import web


class LocalHttpServer:
    """Serve ``app`` on 127.0.0.1; ``port`` is known once ``serve`` returns."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
