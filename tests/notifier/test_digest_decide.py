"""Deciding a digest (several reminders of one client due together) on plain values."""

from __future__ import annotations

import re
import uuid
from datetime import time

from notifier.assignments import AssignmentState
from notifier.decide import Defer, Grouped, MemberState, Send, Split, Suppress, decide
from notifier.digests import each_sent, members_of
from notifier.outcomes import SentRecord, dispatched
from shared.contracts import Channel, QuietHours, ReminderDue, ReminderPurpose, derived_event_id
from shared.contracts.internal import DigestItem
from shared.links import digest_code, done_code
from tests.notifier.test_decide import NOW, RULES, context, due, prefs

SECRETS = RULES.links.secrets


def names_count(text: str, count: int) -> bool:
    """The text (before its link) names the count; its wording varies (shared.messages)."""
    return re.search(rf"\b{count}\b", text.split("https://", maxsplit=1)[0]) is not None


def item(event: ReminderDue, purpose: ReminderPurpose = ReminderPurpose.REMINDER) -> DigestItem:
    return DigestItem(
        reminder_id="rem-" + uuid.uuid4().hex,
        assignment_id=str(uuid.uuid4()),
        assignment_version=1,
        occurrence_date=event.occurrence_date,
        purpose=purpose,
        activity_kind=event.activity_kind,
        activity_title="Breathing exercise",
        policy_id=event.policy_id,
        correlation_id=str(uuid.uuid4()),
    )


def group(size: int = 3) -> ReminderDue:
    lead = due(reminder_id="rem-0" + uuid.uuid4().hex[1:])
    return lead.model_copy(update={"digest": tuple(item(lead) for _ in range(size - 1))})


def test_members_are_the_reminders_as_they_would_have_come_alone() -> None:
    event = group()
    members = members_of(event)
    assert [m.reminder_id for m in members] == [
        event.reminder_id,
        *(i.reminder_id for i in event.digest),
    ]
    assert all(not m.digest for m in members)
    second = members[1]
    assert second.event_id == derived_event_id(second.reminder_id)
    assert second.correlation_id == event.digest[0].correlation_id
    assert second.client_ref == event.client_ref
    assert second.planned_for == event.planned_for


def test_three_live_reminders_go_as_one_message_naming_the_count_with_one_link() -> None:
    event = group()
    decision = decide(event, context(members=(MemberState(), MemberState())), NOW, RULES)
    assert isinstance(decision, Grouped)
    assert decision.key.reminder_id == event.reminder_id
    assert decision.others == ()
    send = decision.decision
    assert isinstance(send, Send)
    assert send.together is not None
    assert len(send.together.members) == 3
    code = digest_code(SECRETS, event.clinic_id, event.reminder_id)
    assert send.link is not None
    assert send.link.code == code
    assert send.link.url == f"https://go.example-clinic.org/g/{code}"
    sms = send.messages[Channel.SMS].text or ""
    assert names_count(sms, 3)
    assert sms.count("https://") == 1
    assert code in sms
    # Each reminder keeps its own done link, for its button on the digest's page.
    assert [link.code for link in send.together.links] == [
        done_code(SECRETS, event.clinic_id, m.reminder_id) for m in send.together.members
    ]


def test_a_completed_member_is_left_out_and_announced_on_its_own() -> None:
    event = group()
    done = AssignmentState(done=(event.occurrence_date,))
    decision = decide(
        event, context(members=(MemberState(assignment=done), MemberState())), NOW, RULES
    )
    assert isinstance(decision, Grouped)
    assert isinstance(decision.decision, Send)
    assert [m.reminder_id for m in decision.others] == [event.digest[0].reminder_id]
    assert names_count(decision.decision.messages[Channel.SMS].text or "", 2)


def test_one_live_member_left_is_an_ordinary_reminder_and_none_split() -> None:
    event = group()
    done = AssignmentState(done=(event.occurrence_date,))
    decision = decide(
        event,
        context(assignment=done, members=(MemberState(assignment=done), MemberState())),
        NOW,
        RULES,
    )
    assert isinstance(decision, Split)
    assert len(decision.members) == 3


def test_the_lead_sent_already_splits_so_each_is_announced_again_from_its_record() -> None:
    event = group()
    record = SentRecord("sms", "twilio", "SM" + "1" * 32)
    sent = MemberState(sent=record)
    decision = decide(event, context(sent=record, members=(sent, sent)), NOW, RULES)
    assert isinstance(decision, Split)


def test_digest_off_in_the_clinic_policy_splits() -> None:
    ctx = context(members=(MemberState(), MemberState()))
    assert ctx.policy is not None
    off = ctx.policy.model_copy(
        update={"messaging": ctx.policy.messaging.model_copy(update={"digest": False})}
    )
    decision = decide(group(), context(policy=off, members=ctx.members), NOW, RULES)
    assert isinstance(decision, Split)


def test_quiet_hours_defer_the_whole_digest_and_no_contact_splits() -> None:
    members = (MemberState(), MemberState())
    soon = prefs(quiet_hours=QuietHours(start=time(12, 0), end=time(13, 5)))
    deferred = decide(group(), context(prefs=soon, members=members), NOW, RULES)
    assert isinstance(deferred, Grouped)
    assert isinstance(deferred.decision, Defer)
    nobody = decide(group(), context(prefs=None, members=members), NOW, RULES)
    assert isinstance(nobody, Split)
    alone = decide(due(), context(prefs=None), NOW, RULES)
    assert isinstance(alone, Suppress)  # the single path is unchanged


def test_the_ledger_records_every_member_with_its_own_link_naming_the_digest() -> None:
    event = group()
    decision = decide(event, context(members=(MemberState(), MemberState())), NOW, RULES)
    assert isinstance(decision, Grouped)
    assert isinstance(decision.decision, Send)
    send = decision.decision
    assert send.link is not None
    assert send.together is not None
    record = SentRecord("sms", "twilio", "SM" + "2" * 32, link_code=send.link.code)
    records = each_sent(decision.key, record, send.together)
    assert [m.reminder_id for m, _ in records] == [m.reminder_id for m in send.together.members]
    lead_record = records[0][1]
    assert lead_record.digest == [i.reminder_id for i in event.digest]
    for (member, own), link in zip(records, send.together.links, strict=True):
        assert own.provider_message_id == record.provider_message_id
        assert own.link_code == link.code
        assert own.digest_code == send.link.code
        announced = dispatched(member, own)
        assert announced.reminder_id == member.reminder_id
        assert announced.digest_of == event.reminder_id
        assert announced.digest_code == send.link.code
        assert announced.link_code == link.code
