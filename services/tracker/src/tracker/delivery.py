"""Delivery status of one message as a state machine that tolerates its callbacks.

Providers report statuses late, twice, or out of order (a "sent" callback can arrive
after "delivered"). Each status has a rank, and a message only ever moves to a higher
rank: applying reports is then a max over ranks, so the final state is the same
whatever order or how many times the reports arrive. Terminal statuses outrank every
non-terminal one, so a late "sent" or "queued" never overwrites an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts import DeliveryStatus

S = DeliveryStatus

# Among outcomes, the one with more evidence wins: a carrier "delivered" beats an earlier
# "failed" seen on a retry, and a bounce is the mail system's final word after "delivered".
# A spam complaint comes after delivery (the recipient read the mail): it proves delivery
# and is no failure of it, but it outranks everything a mail system says before.
RANK: dict[DeliveryStatus, int] = {
    S.QUEUED: 0,
    S.SENT: 1,
    S.SUPPRESSED: 2,
    S.FAILED: 3,
    S.UNDELIVERED: 4,
    S.OPTED_OUT: 5,
    S.DELIVERED: 6,
    S.BOUNCED: 7,
    S.COMPLAINED: 8,
}
TERMINAL = frozenset(s for s in S if s not in (S.QUEUED, S.SENT))
FAILURES = frozenset({S.FAILED, S.UNDELIVERED, S.BOUNCED, S.OPTED_OUT})
# Statuses that prove the message left us: the first one reported counts the message as
# sent once, even when the "sent" callback itself is late or lost. A flag kept beside the
# state remembers it, because the state alone cannot (sent -> failed -> delivered).
LEFT_US = frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED, S.BOUNCED, S.COMPLAINED})
# Statuses that say the message reached the person.
REACHED = frozenset({S.DELIVERED, S.COMPLAINED})


@dataclass(frozen=True)
class Transition:
    previous: DeliveryStatus | None
    current: DeliveryStatus
    first_left: bool = False  # the first report proving the message left us

    @property
    def changed(self) -> bool:
        return self.previous != self.current

    def counted(self) -> tuple[str, ...]:
        """Outcomes to add to the counters for this transition (each once per message)."""
        outcomes: list[str] = [S.SENT.value] if self.first_left else []
        if self.changed and self.current is not S.SENT:
            outcomes.append(self.current.value)
        return tuple(outcomes)


def advance(
    current: DeliveryStatus | None, reported: DeliveryStatus, *, left_before: bool = False
) -> Transition:
    """The state after a report: the higher-ranked of the two."""
    first_left = reported in LEFT_US and not left_before
    if current is None or RANK[reported] > RANK[current]:
        return Transition(current, reported, first_left)
    return Transition(current, current, first_left)


def is_terminal(status: DeliveryStatus) -> bool:
    return status in TERMINAL


def is_failure(status: DeliveryStatus) -> bool:
    return status in FAILURES


def reached(status: DeliveryStatus) -> bool:
    return status in REACHED
