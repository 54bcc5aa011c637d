"""The delivery state machine: out-of-order and repeated callbacks settle the same way."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.contracts import DeliveryStatus
from tracker.delivery import RANK, TERMINAL, Transition, advance

S = DeliveryStatus
statuses = st.lists(st.sampled_from(list(S)), min_size=1, max_size=12)


def settle(reports: list[DeliveryStatus]) -> DeliveryStatus | None:
    state: DeliveryStatus | None = None
    for r in reports:
        state = advance(state, r).current
    return state


def test_a_late_sent_never_overwrites_delivered() -> None:
    assert settle([S.QUEUED, S.DELIVERED, S.SENT]) is S.DELIVERED
    assert advance(S.DELIVERED, S.SENT, left_before=True) == Transition(S.DELIVERED, S.DELIVERED)


def test_a_duplicate_is_not_a_change() -> None:
    again = advance(S.DELIVERED, S.DELIVERED, left_before=True)
    assert not again.changed
    assert again.counted() == ()


def test_terminal_states_outrank_every_non_terminal_one() -> None:
    assert min(RANK[s] for s in TERMINAL) > max(RANK[s] for s in set(S) - TERMINAL)


def test_delivered_without_a_sent_callback_still_counts_as_sent_once() -> None:
    assert advance(None, S.DELIVERED).counted() == ("sent", "delivered")
    assert advance(S.SENT, S.DELIVERED, left_before=True).counted() == ("delivered",)
    assert advance(S.FAILED, S.DELIVERED, left_before=True).counted() == ("delivered",)
    assert advance(None, S.SENT).counted() == ("sent",)


@given(statuses, st.randoms())
def test_order_and_repetition_do_not_change_the_outcome(
    reports: list[DeliveryStatus], rnd: object
) -> None:
    shuffled = list(reports)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert settle(shuffled) == settle(reports) == max(reports, key=RANK.__getitem__)
    assert settle(reports + reports) == settle(reports)


@given(statuses)
def test_each_outcome_is_counted_at_most_once_per_message(reports: list[DeliveryStatus]) -> None:
    state: DeliveryStatus | None = None
    left = False
    counted: list[str] = []
    for r in reports:
        move = advance(state, r, left_before=left)
        counted += move.counted()
        state, left = move.current, left or move.first_left
    assert len(counted) == len(set(counted))
    assert "sent" in counted or "delivered" not in counted
