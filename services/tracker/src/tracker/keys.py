"""Redis key layout of the tracker, written down once (every name under ``<prefix>``,
``<namespace>:bs:tracker``).

Assignment, client, reminder and policy ids are opaque refs each EHR tenant chooses, so
two clinics can both send ``a-1``: every key holding such a ref names it with its clinic,
as ``<clinic>/<ref>`` (``scoped``). A ref cannot contain ``/``, so the pair is never
ambiguous, where ``:`` (allowed in refs) would be.

Per reminder (hash tag ``{<clinic>/<reminder>}``: the delivery commit's own keys share a slot):
- ``r:{tag}``                   hash (compact names, see ``encoding.py``): ``v`` the rev,
  best status and channel, what the outcome announcement needs (assignment, client, day,
  purpose, correlation id, reason), its once-claims ``!delivered`` / ``!failed``, the
  timeline markers ``~<channel>:<kind>|<reason>`` and each channel's message as
  ``<channel>.s`` (status), ``.p`` (provider), ``.l`` (left). Kept for the delivery detail
  retention (14 days by default), shorter than the timeline's and the counters'.
- before that layout: ``reminder:{tag}`` (readable field names) with a hash per message
  ``message:{tag}:<channel>``: still read (and carried into ``r:``) until they expire.
Per provider message: ``provider-msg:{<provider>:<id>}`` -> ``<clinic>/<reminder>`` (for
callbacks of messages the previous release sent, which name no reminder).
Per assignment: ``assignment:<clinic>/<id>`` (JSON), ``completions:<clinic>/<id>`` (hash,
one field per day), ``client:<clinic>/<client>`` (set of assignment ids), and the claims
``once:<what>:<clinic>/<id>:<day or run>``.
Per clinic: ``counts:h|d:<clinic>:<bucket>``, ``stream:failures|optouts:<clinic>``,
``policy:<clinic>/<policy id>`` (and ``policy:<clinic>/_latest``).
Policy console, per policy: ``policy-claim:<clinic>/<policy id>`` (the highest version a
save claimed), ``policy-history:<clinic>/<policy id>`` (hash: version -> JSON who/when/what
changed, the newest 50); per clinic ``policies:<clinic>`` (set of policy ids) and
``clients:<clinic>`` (sorted set: client ref -> when its assignments were last written,
older than the assignment retention dropped).
Per client (hash tag ``{<clinic>/<client>}``: the plan script's keys share a slot):
``timeline:{tag}`` (stream: what happened to the client's reminders and activities, each
entry ids, times and reasons only; capped, trimmed to and expiring after the delivery
retention) and ``plan:{tag}`` (hash: the scheduler's latest plan, ``at`` its time in
microseconds, and ``seen:<...>`` the plan decisions already put on the timeline).
Global: ``active`` (set of ``<clinic>/<assignment>``), ``clinics``, ``backlog:<replica>``,
``link:<code>``, ``digest:<code>`` (a digest link's done codes, see ``done_links.py``).
Per erasure: ``erasure:<clinic>/<erasure event id>`` (the services' counts, no client ref;
see ``usecases/erasure.py``).
On a Redis Cluster the prefix is ``{<namespace>:bs:tracker}`` (``cluster_prefix``): one
slot, on one master, for every tracker key (see docs/operations.md for what that means
for sizing). A single Redis keeps the prefix without braces: nothing moves.
Before this layout an outcome was claimed with ``once:outcome:<clinic>/<reminder>:<kind>``:
still read (never written) until the delivery retention has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

LATEST = "_latest"  # never a policy id: refs start with a letter or digit


def cluster_prefix(prefix: str) -> str:
    """The prefix on a Redis Cluster (``TRACKER_REDIS_CLUSTER``): itself a hash tag, the
    first ``{...}`` of every key and so the one Redis hashes, so all the tracker's keys
    share one slot and every script and pipeline is slot-safe as written. The per
    reminder and per client tags below then only name things."""
    return "{" + prefix + "}"


def scoped(clinic_id: str, ref: str) -> str:
    """A tenant's ref named with its clinic: the form every key and claim uses."""
    return f"{clinic_id}/{ref}"


def unscoped(value: str) -> tuple[str, str] | None:
    """``scoped`` undone; None for a value written before refs were scoped (no ``/``)."""
    clinic_id, slash, ref = value.partition("/")
    return (clinic_id, ref) if slash else None


def hour_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H")


def day_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d")


@dataclass(frozen=True)
class Keys:
    prefix: str  # "<namespace>:bs:tracker"

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # -- per reminder -------------------------------------------------------------------
    def reminder(self, clinic_id: str, reminder_id: str) -> str:
        return self.key("r", _tag(clinic_id, reminder_id))

    def legacy_reminder(self, clinic_id: str, reminder_id: str) -> str:
        return self.key("reminder", _tag(clinic_id, reminder_id))

    def legacy_message(self, clinic_id: str, reminder_id: str, channel: str) -> str:
        return self.key("message", _tag(clinic_id, reminder_id), channel)

    def legacy_outcome(self, clinic_id: str, reminder_id: str, kind: str) -> str:
        return self.key("once", "outcome", scoped(clinic_id, reminder_id), kind)

    def provider_message(self, provider: str, message_id: str) -> str:
        return self.key("provider-msg", "{" + f"{provider}:{message_id}" + "}")

    # -- per assignment -----------------------------------------------------------------
    def assignment(self, clinic_id: str, assignment_id: str) -> str:
        return self.key("assignment", scoped(clinic_id, assignment_id))

    def completions(self, clinic_id: str, assignment_id: str) -> str:
        return self.key("completions", scoped(clinic_id, assignment_id))

    def client(self, clinic_id: str, client_ref: str) -> str:
        return self.key("client", scoped(clinic_id, client_ref))

    def once(self, *parts: str) -> str:
        return self.key("once", *parts)

    # -- per client (the console's timeline) --------------------------------------------
    def timeline(self, clinic_id: str, client_ref: str) -> str:
        return self.key("timeline", _tag(clinic_id, client_ref))

    def plan(self, clinic_id: str, client_ref: str) -> str:
        return self.key("plan", _tag(clinic_id, client_ref))

    # -- per clinic and global ----------------------------------------------------------
    def counts(self, clinic_id: str, at: datetime) -> tuple[str, str]:
        """The hourly and the daily counter hash of ``at``."""
        return (
            self.key("counts", "h", clinic_id, hour_bucket(at)),
            self.key("counts", "d", clinic_id, day_bucket(at)),
        )

    def hourly(self, clinic_id: str, hour: datetime) -> str:
        return self.key("counts", "h", clinic_id, hour_bucket(hour))

    def stream(self, name: str, clinic_id: str) -> str:
        return self.key("stream", name, clinic_id)

    def policy(self, clinic_id: str, policy_id: str) -> str:
        return self.key("policy", scoped(clinic_id, policy_id))

    def legacy_policy(self, clinic_id: str, policy_id: str) -> str:
        return self.key("policy", clinic_id, policy_id)

    # -- policy console and adherence (per clinic) --------------------------------------
    def policy_claim(self, clinic_id: str, policy_id: str) -> str:
        return self.key("policy-claim", scoped(clinic_id, policy_id))

    def policy_history(self, clinic_id: str, policy_id: str) -> str:
        return self.key("policy-history", scoped(clinic_id, policy_id))

    def policies(self, clinic_id: str) -> str:
        return self.key("policies", clinic_id)

    def clinic_clients(self, clinic_id: str) -> str:
        return self.key("clients", clinic_id)

    @property
    def active(self) -> str:
        return self.key("active")

    @property
    def clinics(self) -> str:
        return self.key("clinics")

    def backlog(self, replica: str) -> str:
        return self.key("backlog", replica)


def _tag(clinic_id: str, ref: str) -> str:
    return "{" + scoped(clinic_id, ref) + "}"
