"""Property tests of the pure planner: quiet hours, caps, DST, completion and end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.state import ClientState, note_due_timers
from shared.contracts import (
    ActivityAssigned,
    Caps,
    ClinicPolicy,
    QuietHours,
    ReminderRule,
    new_envelope,
)
from shared.contracts.ehr import Activity, Schedule
from shared.contracts.policy import EndConditions, LeadTime, Messaging, Nudge
from shared.contracts.vocabulary import ActivityKind, Frequency, ReminderPurpose
from shared.planning.ids import TimerMember
from shared.planning.local_time import local_instant
from shared.planning.model import AssignmentPlanInput, ClientContext, PlannedReminder
from shared.planning.plan import plan_client
from shared.quiet_hours import quiet_at

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
HORIZON = timedelta(days=7)

times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def policy(**kw: object) -> ClinicPolicy:
    return ClinicPolicy.model_validate(
        {"policy_id": "p1", "version": 1, "messaging": Messaging(clinic_name="C"), **kw}
    )


def assignment(
    n: int, start: date, tz: str, freq: Frequency = Frequency.DAILY, **kw: object
) -> ActivityAssigned:
    return ActivityAssigned(
        **new_envelope(),
        clinic_id="c1",
        assignment_id=f"a{n}",
        client_ref="cl1",
        therapist_ref="t1",
        activity=Activity(kind=ActivityKind.MOOD_LOG, title="x"),
        schedule=Schedule(timezone=tz, start=start, frequency=freq, **kw),
        policy_id="p1",
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ClientContext, list[AssignmentPlanInput], datetime]:
    tz = draw(st.sampled_from(ZONES))
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 525_600)))
    qs, qe = draw(times), draw(times)
    quiet = QuietHours(start=qs, end=qe) if qs != qe else QuietHours()
    rule = ReminderRule(
        times_of_day=tuple(draw(st.lists(times, min_size=1, max_size=4, unique=True))),
        lead_times=tuple(
            LeadTime(days_before=d, at=t)
            for d, t in draw(st.lists(st.tuples(st.integers(0, 3), times), max_size=2))
        ),
        nudges=tuple(Nudge(if_not_done_by=t) for t in draw(st.lists(times, max_size=2))),
        spread_minutes=draw(st.integers(0, 60)),
    )
    per_day = draw(st.integers(1, 6))
    pol = policy(
        quiet_hours=quiet,
        default_rule=rule,
        caps=Caps(per_day=per_day, per_week=draw(st.integers(per_day, 30))),
    )
    start = (now - timedelta(days=draw(st.integers(0, 10)))).date()
    items = [
        AssignmentPlanInput(
            key=f"c1/a{i}",
            assignment=assignment(i, start, tz, draw(st.sampled_from(list(Frequency)))),
            policy=pol,
        )
        for i in range(draw(st.integers(1, 3)))
    ]
    return ClientContext(client_key="c1/cl1"), items, now


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_never_inside_quiet_hours_never_over_caps_inside_horizon(
    s: tuple[ClientContext, list[AssignmentPlanInput], datetime],
) -> None:
    client, items, now = s
    plan = plan_client(client, items, now, HORIZON)
    pol = items[0].policy
    tz = items[0].assignment.schedule.timezone
    per_day: dict[date, int] = {}
    per_week: dict[tuple[int, int], int] = {}
    for r in plan.reminders:
        assert not quiet_at(r.fire_at, tz, pol.quiet_hours)
        assert now <= r.fire_at < now + HORIZON
        local = r.fire_at.astimezone(ZoneInfo(tz)).date()
        per_day[local] = per_day.get(local, 0) + 1
        iso = local.isocalendar()
        per_week[(iso.year, iso.week)] = per_week.get((iso.year, iso.week), 0) + 1
    assert all(n <= pol.caps.per_day for n in per_day.values())
    assert all(n <= pol.caps.per_week for n in per_week.values())


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.lists(
        st.builds(time, st.integers(6, 20), st.sampled_from([0, 30])),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    st.integers(0, 365),
)
def test_local_time_of_day_is_kept_across_dst(tz: str, slots: list[time], day: int) -> None:
    """Outside quiet hours and without spreading, every reminder is at its local time."""
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day)
    rule = ReminderRule(times_of_day=tuple(slots), spread_minutes=0)
    pol = policy(
        default_rule=rule,
        quiet_hours=QuietHours(start=time(23, 0), end=time(5, 0)),
        caps=Caps(per_day=24, per_week=100),
    )
    item = AssignmentPlanInput("c1/a1", assignment(1, now.date(), tz), pol)
    plan = plan_client(ClientContext("c1/cl1"), [item], now, timedelta(days=7))
    assert plan.reminders
    for r in plan.reminders:
        assert r.fire_at.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None) in slots


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.integers(0, 6), st.integers(0, 6))
def test_nothing_for_completed_occurrences_or_after_the_end(
    s: tuple[ClientContext, list[AssignmentPlanInput], datetime], done_in: int, end_in: int
) -> None:
    client, items, now = s
    base = items[0]
    today = now.astimezone(ZoneInfo(base.assignment.schedule.timezone)).date()
    done = today + timedelta(days=done_in)
    end = max(today + timedelta(days=end_in), base.assignment.schedule.start)
    schedule = base.assignment.schedule.model_copy(
        update={"frequency": Frequency.DAILY, "end": end}
    )
    pol = base.policy.model_copy(update={"end": EndConditions()})
    a = AssignmentPlanInput(
        base.key,
        base.assignment.model_copy(update={"schedule": schedule}),
        pol,
        done=frozenset({done}),
    )
    plan = plan_client(client, [a], now, HORIZON)
    for r in plan.reminders:
        assert r.occurrence != done
        assert r.occurrence <= end


def test_dst_rules_nonexistent_shifts_forward_and_ambiguous_takes_first() -> None:
    berlin = "Europe/Berlin"
    # 2026-03-29 02:30 does not exist in Berlin (02:00 -> 03:00): it becomes 03:30 CEST.
    spring = local_instant(date(2026, 3, 29), time(2, 30), berlin)
    assert spring == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert spring.astimezone(ZoneInfo(berlin)).time() == time(3, 30)
    # 2026-10-25 02:30 happens twice: the first one (still CEST, UTC+2) is used.
    autumn = local_instant(date(2026, 10, 25), time(2, 30), berlin)
    assert autumn == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_quiet_hours_move_a_reminder_to_the_end_of_the_window() -> None:
    pol = policy(default_rule=ReminderRule(times_of_day=(time(22, 0),), spread_minutes=0))
    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    item = AssignmentPlanInput("c1/a1", assignment(1, now.date(), "UTC"), pol)
    plan = plan_client(ClientContext("c1/cl1"), [item], now, timedelta(days=2))
    assert [r.fire_at for r in plan.reminders] == [
        datetime(2026, 5, 5, 8, tzinfo=UTC),
        datetime(2026, 5, 6, 8, tzinfo=UTC),
    ]


def test_caps_count_what_is_not_planned_and_prefer_reminders_over_nudges() -> None:
    rule = ReminderRule(
        times_of_day=(time(9, 0), time(12, 0)),
        nudges=(Nudge(if_not_done_by=time(19, 0)),),
        spread_minutes=0,
    )
    pol = policy(default_rule=rule, caps=Caps(per_day=2, per_week=14))
    now = datetime(2026, 5, 4, 0, tzinfo=UTC)  # a Monday
    item = AssignmentPlanInput("c1/a1", assignment(1, now.date(), "UTC"), pol)
    plan = plan_client(ClientContext("c1/cl1"), [item], now, timedelta(days=7))
    assert plan.capped == 7
    assert {r.purpose for r in plan.reminders} == {ReminderPurpose.REMINDER}
    assert len(plan.reminders) == 14


# -- caps over time: what was sent, through re-plans and events ------------------------


@dataclass
class Simulated:
    """One client as the scheduler keeps it, and what the notifier was handed."""

    tz: str
    policy: ClinicPolicy
    inputs: dict[str, AssignmentPlanInput] = field(default_factory=dict)
    state: ClientState = field(default_factory=lambda: ClientState(client_key="c1/cl1"))
    pending: tuple[PlannedReminder, ...] = ()
    fired: list[datetime] = field(default_factory=list)
    added: int = 0

    def add(self, start: date, slots: list[time]) -> None:
        self.added += 1
        schedule = Schedule(
            timezone=self.tz, start=start, frequency=Frequency.DAILY, times_of_day=tuple(slots)
        )
        event = assignment(self.added, start, self.tz).model_copy(update={"schedule": schedule})
        self.inputs[f"c1/a{self.added}"] = AssignmentPlanInput(
            f"c1/a{self.added}", event, self.policy
        )

    def advance(self, now: datetime) -> None:
        """Every timer that came due is sent; then the client is re-planned, as
        ``Replanner._commit`` does it."""
        self.fired += [r.fire_at for r in self.pending if r.fire_at < now]
        note_due_timers(self.state, now)
        inputs = [self.inputs[k] for k in sorted(self.inputs)]
        plan = plan_client(ClientContext("c1/cl1"), inputs, now, HORIZON, sent=self.state.sent_at())
        self.pending = plan.reminders
        self.state.timers = [TimerMember.of(r).encode() for r in plan.reminders]

    def apply(self, event: tuple[str, int, int], today: date, slots: list[time]) -> None:
        kind, pick, days = event
        keys = sorted(self.inputs)
        key = keys[pick % len(keys)] if keys else ""
        item = self.inputs.get(key)
        if kind == "assign" or item is None:
            self.add(today + timedelta(days=days - 1), slots)
        elif kind == "complete":
            done = item.done | {today + timedelta(days=days - 1)}
            self.inputs[key] = replace(item, done=done)
        elif kind == "cancel":
            del self.inputs[key]
        elif kind == "pause":
            until = today + timedelta(days=days) if days else None
            self.inputs[key] = replace(item, paused=True, paused_until=until)
        elif kind == "resume":
            self.inputs[key] = replace(item, paused=False, paused_until=None)
        elif kind == "retime":  # a new version with other times (a policy or EHR change)
            schedule = item.assignment.schedule.model_copy(update={"times_of_day": tuple(slots)})
            changed = item.assignment.model_copy(update={"schedule": schedule})
            self.inputs[key] = replace(item, assignment=changed)


EVENTS = st.tuples(
    st.sampled_from(["complete", "complete", "assign", "cancel", "pause", "resume", "retime"]),
    st.integers(0, 3),
    st.integers(0, 2),
)
slot_lists = st.lists(times, min_size=1, max_size=3, unique=True)


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.integers(0, 364),
    st.integers(1, 3),
    st.integers(0, 6),
    st.lists(slot_lists, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(20, 14 * 60), EVENTS, slot_lists), min_size=3, max_size=40),
    st.booleans(),
)
def test_what_is_sent_never_exceeds_the_caps_whatever_happens_meanwhile(
    tz: str,
    start_day: int,
    per_day: int,
    extra_week: int,
    initial: list[list[time]],
    steps: list[tuple[int, tuple[str, int, int], list[time]]],
    nudges: bool,
) -> None:
    """Time runs for days with re-plans; due reminders are sent; completions, new
    assignments, cancellations, pauses and new times happen in between. A completion
    used to drop its day's slots, sent ones included, and so free the cap."""
    now = datetime(2026, 1, 1, 5, 17, tzinfo=UTC) + timedelta(days=start_day)
    rule = ReminderRule(
        nudges=(Nudge(if_not_done_by=time(20, 0)),) if nudges else (),
        spread_minutes=0,
    )
    caps = Caps(per_day=per_day, per_week=per_day + extra_week)
    sim = Simulated(tz, policy(default_rule=rule, caps=caps, quiet_hours=QuietHours()))
    today = now.astimezone(ZoneInfo(tz)).date()
    for slots in initial:
        sim.add(today - timedelta(days=1), slots)
    sim.advance(now)
    for minutes, event, slots in steps:
        now += timedelta(minutes=minutes)
        sim.advance(now)
        sim.apply(event, now.astimezone(ZoneInfo(tz)).date(), slots)
        sim.advance(now)
    days = Counter(t.astimezone(ZoneInfo(tz)).date() for t in sim.fired)
    weeks = Counter(d.isocalendar()[:2] for d in days.elements())
    assert max(days.values(), default=0) <= caps.per_day, days
    assert max(weeks.values(), default=0) <= caps.per_week, weeks


def test_a_completion_does_not_free_the_cap_its_sent_reminder_used() -> None:
    """Cap 1 a day: a1's 09:00 went out; completing a1 must not let a2's 18:00 through."""
    tz = "UTC"
    rule = ReminderRule(spread_minutes=0)
    sim = Simulated(tz, policy(default_rule=rule, caps=Caps(per_day=1, per_week=7)))
    day = date(2026, 5, 4)
    sim.add(day, [time(9, 0)])
    sim.add(day, [time(18, 0)])
    sim.advance(datetime(2026, 5, 4, 7, tzinfo=UTC))
    sim.advance(datetime(2026, 5, 4, 10, tzinfo=UTC))  # a1's 09:00 was sent
    sim.inputs["c1/a1"] = replace(sim.inputs["c1/a1"], done=frozenset({day}))
    sim.advance(datetime(2026, 5, 4, 10, 1, tzinfo=UTC))
    assert not [r for r in sim.pending if r.fire_at.date() == day]
    sim.advance(datetime(2026, 5, 5, 0, 30, tzinfo=UTC))
    assert sim.fired == [datetime(2026, 5, 4, 9, tzinfo=UTC)]
