"""Until every tracker commit is slot-safe, TRACKER_REDIS_CLUSTER is refused at start
with the reason, rather than half working against one node of a cluster."""

from __future__ import annotations

from typing import Any, cast

import pytest

from shared.service import Service
from tests.tracker.conftest import settings_for
from tracker.runtime import Runtime


async def test_the_tracker_refuses_a_redis_cluster_with_the_reason() -> None:
    settings = settings_for("t-cluster-guard").model_copy(update={"redis_cluster": True})
    untouched = cast(Service, cast(Any, object()))  # the guard comes before any use of it
    with pytest.raises(RuntimeError, match="TRACKER_REDIS_CLUSTER is not supported yet"):
        await Runtime(settings).start(untouched)
