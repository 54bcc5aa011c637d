"""Redis key layout of the notifier (``<p>`` is the service's prefix, ``<ns>:bs:notifier``).

Every key starts with the prefix (namespace clean-up, ACL key patterns) and then a hash
tag (``{...}``, as the scheduler's) naming its owner, so that on a Redis Cluster
(``NOTIFIER_REDIS_CLUSTER=true``) each script's keys share one slot. Clinics choose their
own ids, so every tag about a client names the clinic first.

Per client, ``C = <p>:{<p>:c:<clinic>/<client>}``: everything one send reads and writes
about the client and its reminders, so that the send's load, reservation and record are
each one script on one slot (a digest's reminders are one client's too):
- ``C:prefs``                 hash: ``version``, ``data`` (the preferences JSON), ``sms``
  (the hash of the SMS number, '' for none)
- ``C:optout``                channels the client opted out of themselves
- ``C:email-held``            the hash of an address whose bounce holds the client's email
- ``C:assignments``           the client's assignment ids (an erasure finds their records)
- ``C:assignment:<id>``       an assignment's state, hash: ``rev``, ``data``
- ``C:sent:<reminder>``       the send record (JSON), kept ``dedupe_ttl_seconds``
- ``C:sending:<reminder>``    the send lease (a token, PX)
- ``C:failed:<reminder>``     channels that failed permanently (a set)
- ``C:<what>:<reminder>``     once-claims of announcements (``suppressed``, ``quiet``)
- ``C:caps:d:<day>``, ``C:caps:w:<week>``, ``C:caps:held:<reminder>`` (``caps.py``)
Per clinic, ``K = <p>:{<p>:k:<clinic>}``: ``K:policies``, hash: ``d:<policy>`` (data),
``v:<policy>`` (version), ``latest`` (the newest policy's id).
Per phone number (a hash of it, never the number), ``N = <p>:{<p>:n:<hash>}``:
``N:owners``, ``N:stop``, ``N:last``, ``N:seen:<clinic>``.
Per email address (a hash of it, lower-cased), ``E = <p>:{<p>:e:<hash>}``: ``E:owners``,
``E:stop``.
Per provider, ``P = <p>:{<p>:p:<provider>}``: ``P:failures``, ``P:open`` (the circuit),
``P:rate:<rate key>`` (the token bucket of an account and sender).
Untagged single keys: ``<p>:msg:<provider>:<message id>`` (read only, written by
releases before the status callback URL named its reminder) and
``<p>:reply:vonage:<uuid>`` (``vonage_replies.py``).

A send is therefore three slots at most per step: the client's, the clinic's (policy)
and the number's on load; the client's and the provider's on reserve; the client's, the
provider's and the number's on record. Each step runs its scripts together
(``shared.service.eval_together``): one round trip on a single Redis. Releases before
this layout wrote untagged names (``<p>:client:<clinic>:<client>``, ``<p>:sent:...``):
``python -m notifier.migrate`` rewrites them (``migrate.py``, docs/operations.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def number_hash(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Keys:
    prefix: str

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _tagged(self, owner: str) -> str:
        """``<p>:{<p>:<owner>}``: under the prefix, in the owner's hash slot."""
        return f"{self.prefix}:{{{self.prefix}:{owner}}}"

    # -- per client (and its reminders and assignments) ------------------------------
    def client_tag(self, clinic_id: str, client_ref: str) -> str:
        return self._tagged(f"c:{clinic_id}/{client_ref}")

    def client(self, clinic_id: str, client_ref: str) -> str:
        return f"{self.client_tag(clinic_id, client_ref)}:prefs"

    def optout(self, clinic_id: str, client_ref: str) -> str:
        return f"{self.client_tag(clinic_id, client_ref)}:optout"

    def email_held(self, clinic_id: str, client_ref: str) -> str:
        return f"{self.client_tag(clinic_id, client_ref)}:email-held"

    def assignments_of(self, clinic_id: str, client_ref: str) -> str:
        return f"{self.client_tag(clinic_id, client_ref)}:assignments"

    def caps(self, clinic_id: str, client_ref: str) -> str:
        """The base of a client's cap keys (``caps.py``)."""
        return f"{self.client_tag(clinic_id, client_ref)}:caps"

    def assignment(self, clinic_id: str, client_ref: str, assignment_id: str) -> str:
        return f"{self.client_tag(clinic_id, client_ref)}:assignment:{assignment_id}"

    def reminder(self, kind: str, clinic_id: str, client_ref: str, reminder_id: str) -> str:
        return f"{self.client_tag(clinic_id, client_ref)}:{kind}:{reminder_id}"

    def sent(self, clinic_id: str, client_ref: str, reminder_id: str) -> str:
        return self.reminder("sent", clinic_id, client_ref, reminder_id)

    def lease(self, clinic_id: str, client_ref: str, reminder_id: str) -> str:
        return self.reminder("sending", clinic_id, client_ref, reminder_id)

    def failed(self, clinic_id: str, client_ref: str, reminder_id: str) -> str:
        return self.reminder("failed", clinic_id, client_ref, reminder_id)

    # -- per clinic ------------------------------------------------------------------
    def policies(self, clinic_id: str) -> str:
        return f"{self._tagged(f'k:{clinic_id}')}:policies"

    # -- per phone number -----------------------------------------------------------------
    def number(self, kind: str, phone: str) -> str:
        return self.number_hashed(kind, number_hash(phone))

    def number_hashed(self, kind: str, hashed: str) -> str:
        return f"{self._tagged(f'n:{hashed}')}:{kind}"

    def seen(self, clinic_id: str, phone: str) -> str:
        """Whether this clinic's message reached the provider for the number already."""
        return self.seen_hashed(clinic_id, number_hash(phone))

    def seen_hashed(self, clinic_id: str, hashed: str) -> str:
        return self.number_hashed(f"seen:{clinic_id}", hashed)

    # -- per email address ------------------------------------------------------------------
    def address_hashed(self, kind: str, hashed: str) -> str:
        return f"{self._tagged(f'e:{hashed}')}:{kind}"

    # -- per provider -------------------------------------------------------------------
    def circuit(self, provider: str, kind: str) -> str:
        return f"{self._tagged(f'p:{provider}')}:{kind}"

    def rate(self, provider: str, rate_key: str) -> str:
        """A token bucket, in its provider's slot (checked with its circuit)."""
        return f"{self._tagged(f'p:{provider}')}:rate:{rate_key}"

    def message(self, provider: str, message_id: str) -> str:
        return self._k("msg", provider, message_id)
