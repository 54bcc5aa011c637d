"""Posts delivered reminders and adherence summaries to the EHR's FHIR server.

A queue of its own (``tracker.fhir``, bound to the outbound exchange) so that a FHIR
server that is down holds back only these posts, in the retry tiers, and never the
tracker's own records. Each post is a conditional create (``If-None-Exist`` on the
resource's identifier): a message delivered again after the server created the resource
does not create it twice."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import aiohttp
from pydantic import Field

from shared.contracts import AdherenceSummary, ReminderDelivered
from shared.errors import PermanentError, TransientError
from shared.handling import add_to_summary
from shared.service import Service
from shared.topology import TRACKER_FHIR_QUEUE, TRACKER_FHIR_SPEC
from tracker.fhir.mapping_out import communication, observation
from tracker.settings import TrackerSettings

FHIR_JSON = "application/fhir+json"
ReportedEvent = Annotated[ReminderDelivered | AdherenceSummary, Field(discriminator="type")]
# Worth trying again: the server is busy, restarting or timed out at a gateway.
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


class FhirRefusedError(PermanentError):
    """The FHIR server refused the resource (4xx): dead-lettered with its reason."""


@dataclass
class FhirReporter:
    base_url: str
    bearer_token: str = ""
    timeout_seconds: float = 10.0
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        # Opened on first use, inside the running loop (never at import or build time).
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def report(self, event: ReminderDelivered | AdherenceSummary) -> str:
        """Post the event's resource; returns its type. Raises ``TransientError`` to be
        retried later, ``FhirRefusedError`` when the server will never take it."""
        if isinstance(event, ReminderDelivered):
            resource = communication(event)
        else:
            resource = observation(event)
        kind = str(resource["resourceType"])
        [identifier] = resource["identifier"]
        headers = {
            "Content-Type": FHIR_JSON,
            "Accept": FHIR_JSON,
            "If-None-Exist": f"identifier={identifier['system']}|{identifier['value']}",
        }
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        url = f"{self.base_url.rstrip('/')}/{kind}"
        try:
            async with self._client().post(url, json=resource, headers=headers) as response:
                text = await response.text()
                _check(kind, response.status, text, response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"FHIR server unreachable: {type(exc).__name__}") from exc
        return kind


def _check(kind: str, status: int, text: str, retry_after: str | None) -> None:
    if status < 300:
        return
    if status in _TRANSIENT:
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise TransientError(f"FHIR server answered {status} to the {kind}", retry_after=wait)
    raise FhirRefusedError(f"FHIR server refused the {kind} ({status}): {_diagnostics(text)}")


def _diagnostics(text: str) -> str:
    """The server's OperationOutcome in short (it names what it did not accept)."""
    try:
        body: Any = json.loads(text)
        issues = body.get("issue", []) if isinstance(body, dict) else []
        found = [
            " ".join(str(i.get(k)) for k in ("diagnostics", "expression") if i.get(k))
            for i in issues
            if isinstance(i, dict)
        ]
        return "; ".join(f for f in found if f)[:300] or text[:300]
    except ValueError:
        return text[:300]


def register(service: Service, settings: TrackerSettings) -> FhirReporter:
    """Consume ``tracker.fhir`` and post each event (the app calls this only when a FHIR
    base URL is configured)."""
    reporter = FhirReporter(
        settings.fhir_base_url,
        settings.fhir_bearer_token.get_secret_value(),
        settings.fhir_timeout_seconds,
    )
    service.topology.queues[TRACKER_FHIR_QUEUE] = TRACKER_FHIR_SPEC

    @service.subscriber(TRACKER_FHIR_QUEUE, TRACKER_FHIR_SPEC.description)
    async def on_reported(event: ReportedEvent) -> None:
        kind = await reporter.report(event)
        add_to_summary(fhir=kind)

    async def stop(_: Service) -> None:
        await reporter.close()

    service.on_stop.append(stop)
    return reporter
