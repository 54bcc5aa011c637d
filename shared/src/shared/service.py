"""The runtime every service shares: an HTTP app whose lifespan owns the broker and Redis.

Each service is one process: uvicorn serves its HTTP endpoints (health, metrics and
whatever the service adds) and the lifespan declares the topology, connects Redis,
starts the broker and any background loops; SIGTERM runs it all in reverse.

Redis or Redis Cluster, the same way in every service: ``*_REDIS_CLUSTER=true``
(``ServiceSettings.redis_cluster``) says ``*_REDIS_URL`` names a node of a cluster.
``Service.store`` is then a ``RedisCluster`` client on that URL (else the service's
``Redis``), built in the lifespan (``connect_store``) and closed at shutdown; a service
keeps its own keys through it, typed ``RedisClient`` (either client). ``Service.redis``
stays a plain client on the URL (readiness pings it; on a cluster it reaches one node
only, so keep keys away from it). Scripts and pipelines on ``store`` must be slot-safe:
every key in KEYS, every key of one call in one hash slot (``{tag}``s). Calls that touch
several slots go together through ``eval_together``: one pipelined round trip on a
single Redis, one concurrent call per script on a cluster.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import uvicorn
import uvloop
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from shared import redis_batch
from shared.broker import EventPublisher, declare_with_connection, rabbit_queue
from shared.contracts.base import Event
from shared.handling import body_validator, make_broker
from shared.http_metrics import instrument
from shared.logging import configure_logging, get_logger
from shared.readiness import OK, rabbitmq_check, run_checks
from shared.settings import ServiceSettings
from shared.tenancy import TenantCheck, connection_user, tenant_check
from shared.topology import Topology
from shared.tracing import instrument_http, tracer_provider

if TYPE_CHECKING:
    from faststream._internal.endpoint.call_wrapper import HandlerCallWrapper

Hook = Callable[["Service"], Awaitable[None]]
EventHandler = Callable[[Any], Awaitable[None]]
log = get_logger("shared.service")
TOPOLOGY_CHECK_TIMEOUT = 30.0


def connect_redis(url: str, max_connections: int = 100) -> Redis:
    """A client that reconnects and retries when a connection drops (a Redis restart).

    ``Redis.from_url`` builds connections that never retry (redis-py 8; ``Redis()`` alone
    gets a retry policy): after a restart every pooled connection failed its first command,
    and a failure right after a provider accepted a message could send it twice. The pool
    waits for a free connection instead of failing when every one is busy (a prefetch
    above the pool size raised MaxConnectionsError)."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=10)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=30, retry=retry
    )
    return Redis.from_pool(pool)


RedisClient = Redis | RedisCluster
"""Where a service keeps its keys: a single Redis or a cluster client (``Service.store``)."""
ScriptCall = tuple[AsyncScript, Sequence[str], Sequence[Any]]
"""A registered script with its KEYS and ARGV, for ``eval_together``."""


def _retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=0.01, cap=1.0), retries=10)


async def connect_store(url: str, max_connections: int, *, cluster: bool) -> RedisClient:
    """The service's store: ``connect_redis`` on a single Redis, or a cluster client that
    discovers the cluster's slots from ``url``'s node (retrying as ``connect_redis`` does)."""
    if not cluster:
        return connect_redis(url, max_connections)
    client = RedisCluster.from_url(url, max_connections=max_connections, retry=_retry())
    await client.initialize()
    return client


async def eval_together(redis: RedisClient, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run scripts whose keys lie in different hash slots as one round trip: pipelined on
    a single Redis, concurrently on a cluster (each to its slot's node). Each call is
    atomic on its own, not with the others. A script the server lost (a restart) is
    loaded and that call alone run again, so no call runs twice."""
    if isinstance(redis, RedisCluster):
        return list(await asyncio.gather(*(s(keys=k, args=a) for s, k, a in calls)))
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    # Together with other handlers' calls of this loop turn, too (``redis_batch``).
    results = await redis_batch.execute(redis, pipe, raise_on_error=False)
    for i, (script, keys, args) in enumerate(calls):
        if isinstance(results[i], NoScriptError):
            results[i] = await script(keys=keys, args=args)
        elif isinstance(results[i], Exception):
            raise results[i]
    return results


def redis_text(raw: Any) -> str:
    """A reply of ``connect_redis``'s client as text (it does not decode responses, so
    values come back as bytes; ones a test or script wrote may be str)."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@dataclass
class Service:
    """A service's wiring: built by its app factory, started by the HTTP lifespan."""

    name: str
    settings: ServiceSettings
    consumes: tuple[str, ...]
    publishes: Iterable[type[Event]]
    topology: Topology = field(init=False)
    broker: RabbitBroker = field(init=False)
    publisher: EventPublisher = field(init=False)
    tracer_provider: TracerProvider | None = field(init=False)
    tenant_check: TenantCheck | None = field(init=False)
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    _redis: Redis | None = None
    _store: RedisClient | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topology = Topology(namespace=self.settings.namespace)
        self.tracer_provider = tracer_provider(self.name, self.settings)
        self.broker = make_broker(
            self.settings.amqp_url,
            self.topology,
            max_attempts=self.settings.retry_max_attempts,
            prefetch=self.settings.prefetch,
            max_body_bytes=self.settings.max_body_bytes,
            tracer_provider=self.tracer_provider,
        )
        self.tenant_check = tenant_check(self.settings.tenants, self.topology)
        self.publisher = EventPublisher(
            self.broker,
            self.topology,
            self.publishes,
            user_id=connection_user(self.settings.amqp_url) if self.tenant_check else None,
        )

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("Redis is connected when the service starts")
        return self._redis

    @property
    def store(self) -> RedisClient:
        """Where the service keeps its keys: a cluster client when ``redis_cluster`` is
        set, else ``redis`` itself."""
        if self._store is None:
            raise RuntimeError("Redis is connected when the service starts")
        return self._store

    def key(self, *parts: str) -> str:
        """A Redis key under this deployment's prefix and the service's name."""
        return ":".join((self.settings.redis_prefix, self.name, *parts))

    def subscriber(
        self, base: str, description: str
    ) -> Callable[[EventHandler], HandlerCallWrapper[..., Awaitable[None]]]:
        """Decorates a handler of one of the service's queues. Errors are never acked
        silently: the handling middleware retries or dead-letters them with a reason.
        The body is validated from its bytes into the handler's annotated event type
        (``body_validator``) and, when tenants are configured, checked against its
        publisher's ``user_id``."""
        subscriber = self.broker.subscriber(
            rabbit_queue(self.topology, base),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=self.topology.queue(base),
            description=description,
        )

        def register(handler: EventHandler) -> HandlerCallWrapper[..., Awaitable[None]]:
            return subscriber(handler, decoder=body_validator(handler, self.tenant_check))

        return register

    async def readiness(self) -> dict[str, str]:
        """``ok`` or why not, for the broker connection and Redis."""
        return await run_checks(
            {"rabbitmq": rabbitmq_check(self.broker), "redis": self._ping_redis}
        )

    async def _ping_redis(self) -> None:
        await self.redis.ping()
        if self.store is not self.redis:
            await self.store.ping()

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        """Run a background loop for the service's lifetime (cancelled on shutdown)."""
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(f"{self.name}:{name}")

    def asyncapi(self) -> AsyncAPI:
        return AsyncAPI(
            self.broker,
            title=f"Between Sessions {self.name}",
            version="1.0.0",
            description=(
                f"Messages the {self.name} consumes and publishes. Bodies are JSON; the "
                "routing key equals the event's `type`."
            ),
            schema_version="3.0.0",
        )

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        # Each message in flight holds at most one connection at a time; loops add a few.
        pool_size = max(100, 2 * self.settings.prefetch + 20)
        self._redis = connect_redis(self.settings.redis_url, pool_size)
        await self._redis.ping()
        cluster = self.settings.redis_cluster
        self._store = self._redis
        if cluster:
            self._store = await connect_store(self.settings.redis_url, pool_size, cluster=True)
        await declare_with_connection(self.settings.amqp_url, self.topology, self.consumes)
        for hook in self.on_start:
            await hook(self)
        await self.broker.start()
        if self.settings.topology_check_seconds > 0:
            self.spawn(self._keep_topology(self.settings.topology_check_seconds), "topology")
        log.info("service started", queues=list(self.consumes), namespace=self.topology.namespace)
        try:
            yield
        finally:
            await self._shutdown()

    async def _keep_topology(self, interval: float) -> None:
        """Declare the topology again every ``interval`` seconds (declarations are idempotent).

        After a RabbitMQ node comes back without its data, FastStream re-declares the
        consuming queues when it reconnects, but nothing else would bring back the
        exchanges, retry tiers and dead-letter queues. Until this loop has run, a retry or
        dead-letter publish fails and the message is nacked and redelivered, so nothing is
        lost in between; it only waits."""
        while True:
            await asyncio.sleep(interval)
            try:
                async with asyncio.timeout(TOPOLOGY_CHECK_TIMEOUT):
                    await declare_with_connection(
                        self.settings.amqp_url, self.topology, self.consumes
                    )
            except Exception as exc:  # broker unreachable: the next round tries again
                log.warning("topology check failed", error=f"{type(exc).__name__}: {exc}")

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.broker.stop()
        for hook in reversed(self.on_stop):
            await hook(self)
        if self._store is not None and self._store is not self._redis:
            await self._store.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        if self.tracer_provider is not None:
            # Exports the spans still batched; a collector that is down blocks up to its timeout.
            await asyncio.to_thread(self.tracer_provider.shutdown)
        log.info("service stopped")


def create_http_app(service: Service) -> FastAPI:
    """Liveness, readiness and metrics for every service; services add their own routes
    to the result. Every route is counted in the HTTP metrics but the probes."""
    app = FastAPI(title=f"Between Sessions {service.name}", lifespan=service.lifespan)
    app.state.service = service
    instrument(app)
    if service.tracer_provider is not None:
        instrument_http(app, service.tracer_provider)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the process serves HTTP (restart it when this fails)."""
        return {"service": service.name, "status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: 503 naming the dependencies that fail (send it no work meanwhile)."""
        checks = await service.readiness()
        failed = sorted(name for name, state in checks.items() if state != OK)
        body = {
            "service": service.name,
            "status": "unavailable" if failed else "ready",
            "failed": failed,
            "checks": checks,
        }
        return JSONResponse(body, status_code=503 if failed else 200)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


# Young-generation size before Python's cycle collector runs (CPython's default is 700).
YOUNG_COLLECTION_THRESHOLD = 20_000


def settle_collector() -> None:
    """Tune Python's cycle collector for a long-running message handler, once started.

    A service holds ~160,000 objects from startup to exit (modules, FastStream's and
    FastAPI's graphs, pydantic schemas) and a full collection walks all of them: ~115 ms
    of CPU for the tracker, a stall for every message in flight, and CPython runs one
    whenever enough survivors pile up. ``gc.freeze`` moves what exists after startup out
    of the collector's sight (none of it is garbage), and a larger young generation runs
    the collector far less often; cycles made per message are still collected. In one
    pipeline bench run the tracker's time in the collector (wall clock, from gc callbacks)
    went from ~1.8 s to ~0.3 s, the notifier's from ~1.6 s to ~0.25 s.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    log.info("collector settled", frozen=gc.get_freeze_count(), young=YOUNG_COLLECTION_THRESHOLD)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, which makes the process exit
    with -15. A stop that completed cleanly is a success, so an orchestrator sees exit 0.
    Once the lifespan has started everything, the collector is settled (``settle_collector``).
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_collector()

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def run(app: FastAPI, settings: ServiceSettings, service_name: str) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn then runs the lifespan shutdown."""
    configure_logging(service_name, settings.log_level, settings.log_format)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    # uvloop: the loop's own share of every message (callbacks, socket reads and writes
    # to RabbitMQ and Redis) costs less than asyncio's (docs/operations.md, Capacity).
    uvloop.run(_Server(config).serve())
