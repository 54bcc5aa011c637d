"""The one-tap done link: what a code stands for, and what opening or confirming it does.

The notifier puts a short code in each reminder (``shared.links``) and announces it with
``notification.dispatched``; the tracker keeps one record per code naming the clinic,
assignment, client, day and the EHR's correlation id. Opening the link (GET) only shows a
page, because link previewers and mail scanners fetch every URL; the page's one button
(POST) records the completion. A record outlives its link by a grace period, so a late
tap says "expired" rather than "does not work".

A digest (one message for several reminders of a client) carries one link to a page
listing them (``shared.links.digest_code``): each reminder's send names the digest's code
beside its own done code, and the tracker keeps, per digest code, the done codes it
lists. Each line of the page has its own button, which records that reminder's
completion exactly as its own done link would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.contracts import (
    CompletionSource,
    Messaging,
    NotificationDispatched,
    ReminderPurpose,
    utcnow,
)
from shared.links import is_authentic
from shared.logging import get_logger
from shared.service import RedisClient, redis_text
from tracker.decide.completion import CompletionInput
from tracker.keys import Keys
from tracker.store import AnyPipeline, SideWrite, TrackerStore
from tracker.usecases.completion import Completions

log = get_logger("tracker.done_links")
DAY = 86_400
# When a dispatched event names no expiry (an older notifier): its default link lifetime.
FALLBACK_VALID_FOR = timedelta(hours=72)

# KEYS: the link hash. ARGV: clinic, reminder, expires (epoch s), expireat (epoch s),
# then field/value pairs. A record is only ever replaced by the same clinic's same
# reminder (a re-send), and only by a later expiry: 0 when refused.
_PUT = """
local clinic = redis.call('HGET', KEYS[1], 'clinic_id')
if clinic and (clinic ~= ARGV[1] or redis.call('HGET', KEYS[1], 'reminder_id') ~= ARGV[2]) then
  return 0
end
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0')
if expires > tonumber(ARGV[3]) then return 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return 1
"""


class LinkRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    clinic_id: str
    assignment_id: str
    client_ref: str
    occurrence_date: date
    reminder_id: str
    correlation_id: str
    expires_at: datetime


class LinkState(StrEnum):
    INVALID = "invalid"  # made up, damaged, or made with a secret we do not hold
    UNKNOWN = "unknown"  # authentic, but its send is not recorded (yet, or any more)
    EXPIRED = "expired"
    VALID = "valid"


def link_state(authentic: bool, record: LinkRecord | None, now: datetime) -> LinkState:
    if not authentic:
        return LinkState.INVALID
    if record is None:
        return LinkState.UNKNOWN
    return LinkState.EXPIRED if now >= record.expires_at else LinkState.VALID


def link_record(event: NotificationDispatched, reminder: Mapping[str, str]) -> LinkRecord | None:
    """What the code in this send stands for. The reminder's own record (what earlier
    events about it said) fills what an older notifier's send leaves out; None when the
    day or assignment is still unknown (nothing could be recorded from such a link)."""
    assignment_id = event.assignment_id or reminder.get("assignment_id")
    day = event.occurrence_date or _date(reminder.get("occurrence_date"))
    if assignment_id is None or day is None:
        return None
    return LinkRecord(
        clinic_id=event.clinic_id,
        assignment_id=assignment_id,
        client_ref=event.client_ref,
        occurrence_date=day,
        reminder_id=event.reminder_id,
        # The EHR's id: the first event about the reminder recorded it; the send repeats it.
        correlation_id=reminder.get("correlation_id") or event.correlation_id,
        expires_at=event.link_expires_at or event.occurred_at + FALLBACK_VALID_FOR,
    )


def _date(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


class LinkRecords:
    """One hash per code, ``link:<code>`` (``Keys.link``), expiring a grace period after
    the link."""

    def __init__(self, redis: RedisClient, keys: Keys, grace_days: int) -> None:
        self.redis = redis
        self.keys = keys
        self.grace = grace_days * DAY
        self._put = redis.register_script(_PUT)

    def _key(self, code: str) -> str:
        return self.keys.link(code)

    def _args(self, record: LinkRecord) -> list[Any]:
        expires = int(record.expires_at.timestamp())
        fields: dict[str, str] = record.model_dump(mode="json") | {"expires_at": str(expires)}
        pairs = [item for pair in fields.items() for item in pair]
        return [record.clinic_id, record.reminder_id, expires, expires + self.grace, *pairs]

    async def put(self, code: str, record: LinkRecord) -> bool:
        return bool(await self._put(keys=[self._key(code)], args=self._args(record)))

    def write(self, code: str, record: LinkRecord) -> SideWrite:
        """``put`` as a write beside a delivery commit (same round trip). EVAL, not
        EVALSHA: a script Redis forgot cannot fail it after the commit went through."""
        key, args = self._key(code), self._args(record)

        def write(pipe: AnyPipeline) -> None:
            pipe.eval(_PUT, 1, key, *args)

        return write

    def _digest_key(self, code: str) -> str:
        return self.keys.digest(code)

    def digest_write(self, digest: str, code: str, record: LinkRecord, purpose: str) -> SideWrite:
        """One line of a digest's page: the done code of a reminder it carried (with its
        purpose), kept as long as that reminder's own link record."""
        key, expires = self._digest_key(digest), int(record.expires_at.timestamp())

        def write(pipe: AnyPipeline) -> None:
            pipe.hset(key, code, purpose)
            # A digest's reminders share one expiry (one message made their links).
            pipe.expireat(key, expires + self.grace)

        return write

    async def digest(self, digest: str) -> dict[str, str]:
        """A digest's done codes and their purposes (empty when unknown)."""
        raw = await self.redis.hgetall(self._digest_key(digest))
        return {redis_text(k): redis_text(v) for k, v in raw.items()}

    async def get(self, code: str) -> LinkRecord | None:
        raw = await self.redis.hgetall(self._key(code))
        if not raw:
            return None
        fields = {redis_text(k): redis_text(v) for k, v in raw.items()}
        fields["expires_at"] = datetime.fromtimestamp(int(fields["expires_at"]), UTC).isoformat()
        return LinkRecord.model_validate(fields)


@dataclass(frozen=True)
class Look:
    state: LinkState
    record: LinkRecord | None = None
    already_done: bool = False


class DoneLinks:
    """The done link's use cases: keep a code's record, show it, confirm it."""

    def __init__(
        self,
        records: LinkRecords,
        store: TrackerStore,
        completions: Completions,
        secrets: Sequence[str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.records = records
        self.store = store
        self.completions = completions
        self.secrets = tuple(secrets)
        self.clock = clock

    def write(self, event: NotificationDispatched) -> SideWrite | None:
        """The record of the send's code, written with the send's delivery commit; None
        when there is none, or when the send leaves the day or assignment to the
        reminder's own record (an older notifier's: see ``remember``)."""
        if event.link_code is None or _incomplete(event) or not self._authentic(event):
            return None
        record = link_record(event, {})
        if record is None:
            return None
        own = self.records.write(event.link_code, record)
        digest = event.digest_code
        if digest is None or not is_authentic(self.secrets, digest):
            return own
        purpose = (event.purpose or ReminderPurpose.REMINDER).value
        line = self.records.digest_write(digest, event.link_code, record, purpose)

        def both(pipe: AnyPipeline) -> None:
            own(pipe)
            line(pipe)

        return both

    async def remember(self, event: NotificationDispatched) -> None:
        """An older notifier's send that names no assignment or day: those come from
        the reminder's record (a read and a write of their own)."""
        code = event.link_code
        if code is None or not _incomplete(event) or not self._authentic(event):
            return
        reminder = await self.store.reminder(event.clinic_id, event.reminder_id)
        record = link_record(event, reminder)
        if record is None:
            log.warning("done link without an assignment or day", reminder_id=event.reminder_id)
            return
        if not await self.records.put(code, record):
            log.warning("done link code already names another reminder; kept the first")

    async def messaging(self, clinic_id: str, policy_id: str | None) -> Messaging | None:
        """How a clinic writes to its clients (its default language, whether it allows
        activity details): the named policy, else the clinic's latest."""
        policy = await self.store.policy(clinic_id, policy_id)
        return policy.messaging if policy is not None else None

    async def clinic_language(self, record: LinkRecord | None) -> str | None:
        """The clinic's default language, for a page about ``record`` (None: unknown)."""
        if record is None:
            return None
        assignment = await self.store.assignment(record.clinic_id, record.assignment_id)
        policy_id = assignment.policy_id if assignment is not None else None
        messaging = await self.messaging(record.clinic_id, policy_id)
        return messaging.default_language if messaging is not None else None

    def _authentic(self, event: NotificationDispatched) -> bool:
        if event.link_code is not None and is_authentic(self.secrets, event.link_code):
            return True
        # Nobody could use it: the notifier signs with a secret we do not hold.
        log.warning("done link code fails TRACKER_LINK_SECRETS; do the secret lists match?")
        return False

    async def look(self, code: str) -> Look:
        """What a GET shows. Reads only: opening a link never records anything."""
        authentic = is_authentic(self.secrets, code)
        record = await self.records.get(code) if authentic else None
        state = link_state(authentic, record, self.clock())
        if state is not LinkState.VALID or record is None:
            return Look(state)
        done = await self.store.is_completed(
            record.clinic_id, record.assignment_id, record.occurrence_date
        )
        return Look(state, record, already_done=done)

    async def confirm(self, code: str) -> Look:
        """The person pressed the button: record the completion once (source ``link``)."""
        look = await self.look(code)
        if look.record is None:
            return look
        r = look.record
        completion = CompletionInput(
            clinic_id=r.clinic_id,
            assignment_id=r.assignment_id,
            client_ref=r.client_ref,
            occurrence_date=r.occurrence_date,
            completed_at=self.clock(),
            source=CompletionSource.LINK,
        )
        caused = {"clinic_id": r.clinic_id, "correlation_id": r.correlation_id}
        added = await self.completions.record(completion, caused)
        return Look(look.state, r, already_done=not added)


def _incomplete(event: NotificationDispatched) -> bool:
    return event.assignment_id is None or event.occurrence_date is None


# -- the digest page ------------------------------------------------------------------


@dataclass(frozen=True)
class DigestLine:
    """One reminder of a digest's page: ``activity`` is its title, only when the clinic
    allows activity details (otherwise the page says "Activity 1", "Activity 2")."""

    number: int  # from 1, in a stable order (the reminders' ids)
    code: str  # its own done code
    purpose: str
    look: Look
    activity: str | None = None


@dataclass(frozen=True)
class DigestLook:
    state: LinkState
    lines: tuple[DigestLine, ...] = ()
    clinic_language: str | None = None  # the clinic's default, for the page's language


def digest_state(authentic: bool, lines: Sequence[DigestLine]) -> LinkState:
    """Valid while any of its reminders' links is; expired once all are."""
    if not authentic:
        return LinkState.INVALID
    states = {line.look.state for line in lines}
    if LinkState.VALID in states:
        return LinkState.VALID
    return LinkState.EXPIRED if LinkState.EXPIRED in states else LinkState.UNKNOWN


class DigestLinks:
    """The digest page's use cases: show its reminders, record one of them as done."""

    def __init__(self, links: DoneLinks) -> None:
        self.links = links

    async def look(self, code: str) -> DigestLook:
        """What a GET shows. Reads only."""
        links = self.links
        if not is_authentic(links.secrets, code):
            return DigestLook(LinkState.INVALID)
        listed = await links.records.digest(code)
        looks = [(c, p, await links.look(c)) for c, p in listed.items()]
        looks.sort(key=lambda x: x[2].record.reminder_id if x[2].record else x[0])
        titles, language = await self._about([look for _, _, look in looks])
        lines = tuple(
            DigestLine(n, c, p, look, titles.get(look.record.assignment_id if look.record else ""))
            for n, (c, p, look) in enumerate(looks, start=1)
        )
        return DigestLook(digest_state(True, lines), lines, language)

    async def confirm(self, code: str, number: int) -> tuple[DigestLook, DigestLine | None]:
        """The button of line ``number`` was pressed: record that reminder's completion
        as its own done link would; the page again, and the line that was recorded (None
        when there is no such line to record)."""
        look = await self.look(code)
        line = next((x for x in look.lines if x.number == number), None)
        if look.state is not LinkState.VALID or line is None or line.look.record is None:
            return look, None
        await self.links.confirm(line.code)
        return await self.look(code), line

    async def _about(self, looks: Sequence[Look]) -> tuple[dict[str, str], str | None]:
        """Activity titles by assignment, only where the assignment's clinic policy allows
        activity details (the page is seen by whoever holds the phone); and the clinic's
        default language (one message, one clinic)."""
        titles: dict[str, str] = {}
        language: str | None = None
        for look in looks:
            if look.record is None:
                continue
            r = look.record
            assignment = await self.links.store.assignment(r.clinic_id, r.assignment_id)
            policy_id = assignment.policy_id if assignment is not None else None
            messaging = await self.links.messaging(r.clinic_id, policy_id)
            language = language or (messaging.default_language if messaging else None)
            if assignment is None or not assignment.activity_title or messaging is None:
                continue
            if messaging.allow_activity_details:
                titles[r.assignment_id] = assignment.activity_title
        return titles, language
