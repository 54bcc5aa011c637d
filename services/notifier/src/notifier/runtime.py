"""The notifier's collaborators, built when the service starts (Redis is connected then)
and closed when it stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from notifier.assignment_store import AssignmentStore
from notifier.compose import LinkConfig
from notifier.directory import Directory
from notifier.dispatch import Dispatcher, Limits
from notifier.keys import Keys
from notifier.providers.registry import GivenProviders, Providers, build_providers, ordered
from notifier.resilience import CircuitBreaker
from notifier.send_store import SendStore
from notifier.settings import NotifierSettings
from shared.contracts import Channel
from shared.ordering import InOrder
from shared.service import Service
from shared.settings import secret_values

_T = TypeVar("_T")


@dataclass
class Runtime:
    settings: NotifierSettings
    # One provider or several (in order) per channel; built from settings when None.
    given: GivenProviders | None = None
    providers: Providers | None = None
    _directory: Directory | None = None
    _assignments: AssignmentStore | None = None
    _dispatcher: Dispatcher | None = None
    _order: InOrder | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def directory(self) -> Directory:
        return _started(self._directory)

    @property
    def assignments(self) -> AssignmentStore:
        return _started(self._assignments)

    @property
    def dispatcher(self) -> Dispatcher:
        return _started(self._dispatcher)

    @property
    def order(self) -> InOrder:
        """Turns per client: its messages are handled one at a time, in arrival order."""
        return _started(self._order)

    async def start(self, service: Service) -> None:
        s = self.settings
        redis, prefix = service.store, service.key()
        self.providers = ordered(self.given) if self.given else build_providers(s)
        self._order = InOrder()
        self._directory = Directory(redis, prefix)
        self._assignments = AssignmentStore(redis, prefix)
        self._dispatcher = Dispatcher(
            store=SendStore(
                redis,
                Keys(prefix),
                lease_seconds=s.send_lease_seconds,
                ttl_seconds=s.dedupe_ttl_seconds,
            ),
            breaker=CircuitBreaker(
                redis,
                prefix,
                threshold=s.circuit_failure_threshold,
                window=s.circuit_window_seconds,
                open_for=s.circuit_open_seconds,
            ),
            providers=self.providers,
            publish=service.publisher.publish,
            links=LinkConfig(
                secrets=secret_values(s.link_secrets),
                tracker_base_url=s.public_base_url,
                notifier_base_url=s.webhook_base_url,
                ttl=timedelta(hours=s.done_link_ttl_hours),
            ),
            limits=Limits(
                rates={
                    Channel.SMS: s.sms_rate_per_second,
                    Channel.EMAIL: s.email_rate_per_second,
                    Channel.PUSH: s.push_rate_per_second,
                },
                rate_wait_max=s.rate_wait_max_seconds,
                quiet_defer_max=s.quiet_defer_max_seconds,
            ),
        )

    async def stop(self, _: Service) -> None:
        for providers in (self.providers or {}).values():
            for provider in providers:
                await provider.aclose()


def _started(collaborator: _T | None) -> _T:
    if collaborator is None:
        raise RuntimeError("the notifier has not started")
    return collaborator
