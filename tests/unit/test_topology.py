from __future__ import annotations

from shared.contracts.examples import examples
from shared.topology import PUBLISH_TO, QUEUES, RETRY_TIERS, Exchange, RoutingKey, Topology


def test_every_event_type_has_a_route_and_every_route_an_event() -> None:
    tags = set(examples())
    assert tags == set(PUBLISH_TO)
    assert tags == {k.value for k in RoutingKey}


def test_every_binding_uses_a_key_published_to_that_exchange() -> None:
    for spec in QUEUES.values():
        for exchange, key in spec.bindings:
            assert exchange in PUBLISH_TO[key.value], (spec.name, exchange, key)


def test_every_consuming_queue_dead_letters_to_its_own_dlq() -> None:
    topo = Topology(namespace="ns")
    for base in QUEUES:
        args = topo.queue_arguments(base)
        assert args["x-queue-type"] == "quorum"
        assert args["x-dead-letter-exchange"] == "ns.bs.dead-letter"
        assert args["x-dead-letter-routing-key"] == f"ns.{base}"
        assert topo.dlq(base) == f"ns.{base}.dlq"


def test_namespace_prefixes_every_name() -> None:
    exchanges, queues = Topology(namespace="t-1").all_names()
    assert all(name.startswith("t-1.") for name in exchanges + queues)
    assert Topology().exchange(Exchange.INBOUND) == "bs.ehr.inbound"


def test_retry_tier_is_the_smallest_at_least_the_delay() -> None:
    topo = Topology()
    assert topo.retry_tier_for(0.2) == 1
    assert topo.retry_tier_for(5) == 5
    assert topo.retry_tier_for(6) == 30
    assert topo.retry_tier_for(10_000) == RETRY_TIERS[-1]
