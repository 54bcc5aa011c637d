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
Per clinic: ``active`` (set of ``<clinic>/<assignment>``; one key on a single Redis).
Global: ``clinics``, ``backlog:<replica>``,
``link:<code>``, ``digest:<code>`` (a digest link's done codes, see ``done_links.py``).
Per erasure: ``erasure:<clinic>/<erasure event id>`` (the services' counts, no client ref;
see ``usecases/erasure.py``).
On a Redis Cluster (``Keys.spread``) the keys spread over the masters by clinic: a
clinic's keys (everything above that names a clinic, ``active`` included, one set per
clinic) begin ``{<prefix>/<clinic>}:`` so each clinic's data is one slot and every
commit script (which only ever touches one clinic) stays atomic; the small global ones
(``clinics``, ``backlog:``) begin ``{<prefix>}:``; keys found by an id alone
(``link:{<code>}``, ``digest:{<code>}``, ``provider-msg:{...}``) are each their own slot.
The hash tags inside the names above then only name things. A single Redis keeps every
key as it was (the plain prefix, no new braces): nothing moves.
Before this layout an outcome was claimed with ``once:outcome:<clinic>/<reminder>:<kind>``:
still read (never written) until the delivery retention has passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.erasure import glob_escape

LATEST = "_latest"  # never a policy id: refs start with a letter or digit


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
    base: str  # "<namespace>:bs:tracker"
    # On a Redis Cluster: every clinic's keys in a slot of their own (``of``), spread
    # over the masters, instead of all of them on a single Redis.
    spread: bool = False

    @property
    def prefix(self) -> str:
        """The global keys' prefix: its own slot on a cluster."""
        return "{" + self.base + "}" if self.spread else self.base

    def key(self, *parts: str) -> str:
        """A global key (not one clinic's)."""
        return ":".join((self.prefix, *parts))

    def clinic_prefix(self, clinic_id: str) -> str:
        """What every key of the clinic begins with: on a cluster a hash tag naming the
        clinic, so a clinic's keys share a slot and its scripts stay atomic."""
        return "{" + self.base + "/" + clinic_id + "}" if self.spread else self.base

    def of(self, clinic_id: str, *parts: str) -> str:
        """A key of the clinic's."""
        return ":".join((self.clinic_prefix(clinic_id), *parts))

    def own(self, kind: str, ident: str) -> str:
        """A key looked up by an id alone (a done link's code), of no clinic: on a cluster
        the id is its hash tag, so each is its own slot and the many spread over the
        masters; a single Redis keeps the name it had (no braces)."""
        return ":".join((self.base, kind, "{" + ident + "}" if self.spread else ident))

    def link(self, code: str) -> str:
        return self.own("link", code)

    def links_match(self) -> str:
        """A SCAN pattern for every done link."""
        return glob_escape(self.base + ":link:") + "*"

    def digest(self, code: str) -> str:
        return self.own("digest", code)

    def name_of(self, rest: str) -> str:
        """This layout's name of a key that a single Redis names ``<prefix>:<rest>`` (for
        moving keys to the cluster, ``migrate``; ``active`` is split by clinic instead).
        Raises ValueError for a name this layout does not have."""
        kind, _, tail = rest.partition(":")
        if kind == "provider-msg":  # braced in either layout
            return ":".join((self.base, rest))
        if kind in ("link", "digest"):
            return self.own(kind, tail.removeprefix("{").removesuffix("}"))
        clinic_id = clinic_of_key(rest)
        return self.key(rest) if clinic_id is None else self.of(clinic_id, rest)

    # -- per reminder -------------------------------------------------------------------
    def reminder(self, clinic_id: str, reminder_id: str) -> str:
        return self.of(clinic_id, "r", _tag(clinic_id, reminder_id))

    def legacy_reminder(self, clinic_id: str, reminder_id: str) -> str:
        return self.of(clinic_id, "reminder", _tag(clinic_id, reminder_id))

    def legacy_message(self, clinic_id: str, reminder_id: str, channel: str) -> str:
        return self.of(clinic_id, "message", _tag(clinic_id, reminder_id), channel)

    def legacy_outcome(self, clinic_id: str, reminder_id: str, kind: str) -> str:
        return self.once("outcome", scoped(clinic_id, reminder_id), kind)

    def provider_message(self, provider: str, message_id: str) -> str:
        """Braced in either layout (the name it always had): its own slot on a cluster."""
        return ":".join((self.base, "provider-msg", "{" + f"{provider}:{message_id}" + "}"))

    # -- per assignment -----------------------------------------------------------------
    def assignment(self, clinic_id: str, assignment_id: str) -> str:
        return self.of(clinic_id, "assignment", scoped(clinic_id, assignment_id))

    def completions(self, clinic_id: str, assignment_id: str) -> str:
        return self.of(clinic_id, "completions", scoped(clinic_id, assignment_id))

    def client(self, clinic_id: str, client_ref: str) -> str:
        return self.of(clinic_id, "client", scoped(clinic_id, client_ref))

    def once(self, what: str, scope: str, *rest: str) -> str:
        """A once-claim ``once:<what>:<clinic>/<id>[:...]``: the clinic's, by its scope."""
        return self.of(_clinic_of(scope), "once", what, scope, *rest)

    def once_prefix(self, clinic_id: str) -> str:
        """What the clinic's once-claims begin with (erasure finds them by it)."""
        return self.of(clinic_id, "once", "")

    # -- per client (the console's timeline) --------------------------------------------
    def timeline(self, clinic_id: str, client_ref: str) -> str:
        return self.of(clinic_id, "timeline", _tag(clinic_id, client_ref))

    def plan(self, clinic_id: str, client_ref: str) -> str:
        return self.of(clinic_id, "plan", _tag(clinic_id, client_ref))

    # -- per clinic and global ----------------------------------------------------------
    def counts(self, clinic_id: str, at: datetime) -> tuple[str, str]:
        """The hourly and the daily counter hash of ``at``."""
        return (
            self.of(clinic_id, "counts", "h", clinic_id, hour_bucket(at)),
            self.of(clinic_id, "counts", "d", clinic_id, day_bucket(at)),
        )

    def hourly(self, clinic_id: str, hour: datetime) -> str:
        return self.of(clinic_id, "counts", "h", clinic_id, hour_bucket(hour))

    def stream(self, name: str, clinic_id: str) -> str:
        return self.of(clinic_id, "stream", name, clinic_id)

    def policy(self, clinic_id: str, policy_id: str) -> str:
        return self.of(clinic_id, "policy", scoped(clinic_id, policy_id))

    def legacy_policy(self, clinic_id: str, policy_id: str) -> str:
        return self.of(clinic_id, "policy", clinic_id, policy_id)

    # -- policy console and adherence (per clinic) --------------------------------------
    def policy_claim(self, clinic_id: str, policy_id: str) -> str:
        return self.of(clinic_id, "policy-claim", scoped(clinic_id, policy_id))

    def policy_history(self, clinic_id: str, policy_id: str) -> str:
        return self.of(clinic_id, "policy-history", scoped(clinic_id, policy_id))

    def policies(self, clinic_id: str) -> str:
        return self.of(clinic_id, "policies", clinic_id)

    def clinic_clients(self, clinic_id: str) -> str:
        return self.of(clinic_id, "clients", clinic_id)

    def active(self, clinic_id: str) -> str:
        """The clinic's active assignments (one set for every clinic on a single Redis)."""
        return self.of(clinic_id, "active")

    def active_sets(self, clinics: list[str]) -> list[str]:
        """Every ``active`` set, given the clinics: one key on a single Redis (whether
        or not ``clinics`` names each clinic that has one), one per clinic on a cluster."""
        return sorted({self.active(c) for c in clinics}) if self.spread else [self.active("")]

    def erasure(self, clinic_id: str, erasure_event_id: str) -> str:
        return self.of(clinic_id, "erasure", scoped(clinic_id, erasure_event_id))

    @property
    def clinics(self) -> str:
        return self.key("clinics")

    def backlog(self, replica: str) -> str:
        return self.key("backlog", replica)


GLOBAL_KINDS = frozenset({"clinics", "backlog"})


def _in_tag(tail: str) -> str:  # {<clinic>/<ref>}[:...]
    return tail[1:].partition("/")[0] if tail.startswith("{") else ""


def _scoped_head(tail: str) -> str:  # <clinic>/<ref>
    return tail.partition("/")[0] if "/" in tail else ""


# Where each kind of the layout above names its clinic, given what follows ``<kind>:``.
_CLINIC_IN: dict[str, Callable[[str], str]] = {
    **dict.fromkeys(("r", "reminder", "message", "timeline", "plan"), _in_tag),
    **dict.fromkeys(
        ("assignment", "completions", "client", "policy-claim", "policy-history", "erasure"),
        _scoped_head,
    ),
    # <clinic>/<id>, or before refs were scoped <clinic>:<id>
    "policy": lambda tail: _scoped_head(tail) or tail.partition(":")[0],
    "once": lambda tail: _scoped_head(tail.partition(":")[2]),  # <what>:<clinic>/<id>[:...]
    "counts": lambda tail: tail.partition(":")[2].rpartition(":")[0],  # h|d:<clinic>:<bucket>
    "stream": lambda tail: tail.partition(":")[2],  # <name>:<clinic>
    "policies": lambda tail: tail,
    "clients": lambda tail: tail,
}


def clinic_of_key(rest: str) -> str | None:
    """The clinic a key belongs to, from its name after the prefix (``rest``); None for a
    global key. For moving a single Redis's keys to the cluster layout (``migrate``);
    ``active``, a set of every clinic's members there, is split by its members instead.
    Raises ValueError for a name this layout does not have."""
    kind, _, tail = rest.partition(":")
    if kind in GLOBAL_KINDS:
        return None
    clinic_id = _CLINIC_IN[kind](tail) if kind in _CLINIC_IN else ""
    if not clinic_id:
        raise ValueError(f"not a key of the tracker's layout: {rest!r}")
    return clinic_id


def _tag(clinic_id: str, ref: str) -> str:
    return "{" + scoped(clinic_id, ref) + "}"


def _clinic_of(scope: str) -> str:
    found = unscoped(scope)
    if found is None:
        raise ValueError(f"a once-claim names its clinic (<clinic>/<id>), not {scope!r}")
    return found[0]
