"""Redis key layout. Everything a client's re-plan or a shard's claim touches lives in
one hash slot, so every multi-key script is valid on Redis Cluster.

Per shard ``NN`` (tag ``{<prefix>:scheduler:sNN}``; a client's shard is a hash of
``<clinic>/<client_ref>``):
- ``...:{tag}:due``         sorted set: timer member -> due (or lease expiry) in epoch ms
- ``...:{tag}:fire``        hash: ``<clinic>/<assignment>`` -> what a reminder.due needs
- ``...:{tag}:clients``     sorted set: client -> when to re-plan it (rolls the horizon)
- ``...:{tag}:c:<client>``  hash: the client's state (rev, prefs, a:<assignment>, timers,
                            sent, last: the id of the event committed last, idle_since:
                            ``<rev>:<ms>`` once nothing is left to plan, see retention.py)
Global (single-key operations only):
- ``...:policy:<clinic>/<policy>``        the clinic policy (JSON)
- ``...:policy-by:<clinic>/<policy>``     id of the event that stored it
- ``...:policy-users:<clinic>/<policy>``  set of clients planned with it
- ``...:seen:<clinic>/<event id>``        processed events (idempotency, with a TTL); per
  clinic, because each clinic's EHR chooses its own event ids
- ``...:wake``                            pub/sub channel: an earlier timer was added
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ShardKeys:
    due: str
    fire: str
    clients: str
    tag_prefix: str

    def client(self, client_key: str) -> str:
        return f"{self.tag_prefix}:c:{client_key}"


@dataclass(frozen=True)
class Keys:
    base: str  # "<prefix>:scheduler"
    shard_count: int

    def shard_of(self, client_key: str) -> int:
        return zlib.crc32(client_key.encode()) % self.shard_count

    def shard(self, n: int) -> ShardKeys:
        tagged = f"{self.base}:{{{self.base}:s{n:03d}}}"
        return ShardKeys(f"{tagged}:due", f"{tagged}:fire", f"{tagged}:clients", tagged)

    def shards(self) -> list[ShardKeys]:
        return [self.shard(n) for n in range(self.shard_count)]

    def policy(self, policy_key: str) -> str:
        return f"{self.base}:policy:{policy_key}"

    def policy_source(self, policy_key: str) -> str:
        return f"{self.base}:policy-by:{policy_key}"

    def policy_users(self, policy_key: str) -> str:
        return f"{self.base}:policy-users:{policy_key}"

    def seen(self, clinic_id: str, event_id: str) -> str:
        return f"{self.base}:seen:{clinic_id}/{event_id}"

    @property
    def wake_channel(self) -> str:
        return f"{self.base}:wake"
