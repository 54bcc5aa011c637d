"""A local FHIR server speaking the REST create interaction, as an EHR's server answers:
201 with the resource, or the status and OperationOutcome a test asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from aiohttp import web

from tests.fakes.local_http import LocalHttpServer

BASE_PATH = "/fhir/r4"


@dataclass
class Received:
    resource_type: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeFhirServer:
    server: LocalHttpServer = field(default_factory=LocalHttpServer)
    received: list[Received] = field(default_factory=list)
    # The next answers, in order (status, OperationOutcome diagnostics); then 201.
    answers: list[tuple[int, str]] = field(default_factory=list)
    created: set[str] = field(default_factory=set)  # If-None-Exist criteria seen

    @property
    def base_url(self) -> str:
        return f"{self.server.base_url}{BASE_PATH}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"{BASE_PATH}/{{type}}", self._create)
        await self.server.serve(app)

    async def stop(self) -> None:
        await self.server.stop()

    async def _create(self, request: web.Request) -> web.Response:
        kind = request.match_info["type"]
        body = await request.json()
        self.received.append(Received(kind, body, dict(request.headers)))
        if self.answers:
            status, diagnostics = self.answers.pop(0)
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "invalid", "diagnostics": diagnostics}],
            }
            headers = {"Retry-After": "7"} if status == 503 else {}
            return web.json_response(outcome, status=status, headers=headers)
        criteria = request.headers.get("If-None-Exist", "")
        if criteria in self.created:  # a conditional create that matches: nothing new
            return web.json_response({**body, "id": "existing"}, status=200)
        self.created.add(criteria)
        return web.json_response({**body, "id": str(uuid4())}, status=201)
