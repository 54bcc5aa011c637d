"""Redis key layout of the notifier (``<p>`` is the service's prefix, ``<ns>:bs:notifier``).

Clinics choose their own ids, so every key about a client, reminder or assignment names
the clinic first. These are the names the previous release wrote; a release reads them as
they are.

Per reminder (``sent``/``sending``/``failed``/once-claims):
- ``<p>:sent:<clinic>/<reminder>``      the send record (JSON), kept ``dedupe_ttl_seconds``
- ``<p>:sent:<reminder>``               the same, as written before keys named the clinic
- ``<p>:sending:<clinic>/<reminder>``   the send lease (a token, PX)
- ``<p>:failed:<clinic>/<reminder>``    channels that failed permanently (a set)
- ``<p>:<what>:<clinic>/<reminder>``    once-claims of announcements (``suppressed``, ``quiet``)
Per client:
- ``<p>:client:<clinic>:<client>``      hash: ``version``, ``data`` (the preferences JSON) and
  ``sms`` (the hash of the SMS number, '' for none; absent in records of older releases)
- ``<p>:optout:<clinic>:<client>``      channels the client opted out of themselves
- ``{<p>:caps:<clinic>/<client>}:...``  cap sets (see ``caps.py``; one hash slot per client)
- ``<p>:assignments-of:<clinic>:<client>``  the client's assignment ids (for an erasure,
  ``erasure.py``)
Per clinic and assignment:
- ``<p>:policy:<clinic>:<policy>``, ``<p>:policy-latest:<clinic>``
- ``<p>:assignment:<clinic>/<assignment>``  hash: ``rev``, ``data``
Per phone number (a hash of it, never the number):
- ``<p>:number:{owners,owner,stop,last}:<hash>``, ``<p>:number:seen:<clinic>:<hash>``
Per provider: ``<p>:circuit:<provider>:{failures,open}``, ``<p>:rate:<rate key>``.
Per provider message id (read only, written by releases before the status callback URL
named its reminder): ``<p>:msg:<provider>:<message id>``.

Redis Cluster: the send scripts (``lua.py``) touch the reminder's, the client's, the
number's and the provider's keys together, which lie in different hash slots, and the
load script derives the policy and number keys from what it reads. They run on a single
Redis (or a primary with replicas) only; on a cluster they would have to be split per
slot (reminder keys tagged by reminder, client keys by client). Only the caps keys carry
a hash tag today.
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

    # -- per reminder ---------------------------------------------------------------
    def reminder(self, kind: str, clinic_id: str, reminder_id: str) -> str:
        return self._k(kind, f"{clinic_id}/{reminder_id}")

    def sent(self, clinic_id: str, reminder_id: str) -> str:
        return self.reminder("sent", clinic_id, reminder_id)

    def legacy_sent(self, reminder_id: str) -> str:
        return self._k("sent", reminder_id)

    def lease(self, clinic_id: str, reminder_id: str) -> str:
        return self.reminder("sending", clinic_id, reminder_id)

    def failed(self, clinic_id: str, reminder_id: str) -> str:
        return self.reminder("failed", clinic_id, reminder_id)

    # -- per client -----------------------------------------------------------------
    def client(self, clinic_id: str, client_ref: str) -> str:
        return self._k("client", clinic_id, client_ref)

    def optout(self, clinic_id: str, client_ref: str) -> str:
        return self._k("optout", clinic_id, client_ref)

    def caps(self, clinic_id: str, client_ref: str) -> str:
        """The base of a client's cap keys, a hash tag of its own."""
        return f"{{{self.prefix}:caps:{clinic_id}/{client_ref}}}"

    # -- per clinic ------------------------------------------------------------------
    def policy(self, clinic_id: str, policy_id: str) -> str:
        return self._k("policy", clinic_id, policy_id)

    def policy_latest(self, clinic_id: str) -> str:
        return self._k("policy-latest", clinic_id)

    def assignment(self, clinic_id: str, assignment_id: str) -> str:
        return self._k("assignment", f"{clinic_id}/{assignment_id}")

    # -- per phone number -----------------------------------------------------------------
    def number(self, kind: str, phone: str) -> str:
        return self.number_hashed(kind, number_hash(phone))

    def number_hashed(self, kind: str, hashed: str) -> str:
        return self._k("number", kind, hashed)

    def seen(self, clinic_id: str, phone: str) -> str:
        """Whether this clinic's message reached the provider for the number already."""
        return self._k("number", "seen", clinic_id, number_hash(phone))

    # -- per provider -------------------------------------------------------------------
    def circuit(self, provider: str, kind: str) -> str:
        return self._k("circuit", provider, kind)

    def rate(self, rate_key: str) -> str:
        return self._k("rate", rate_key)

    def message(self, provider: str, message_id: str) -> str:
        return self._k("msg", provider, message_id)
