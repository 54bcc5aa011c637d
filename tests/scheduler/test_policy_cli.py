"""The policy CLI: an invalid file exits 2 and publishes nothing; a valid one, applied
against the real RabbitMQ, reaches the scheduler, which stores it and plans with it."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import time
from pathlib import Path

import pytest
from aio_pika.abc import AbstractChannel
from redis.asyncio import Redis

from scheduler.app import NAME, create_app
from scheduler.keys import Keys
from scheduler.policy_cli import INVALID, OK, run
from scheduler.replan import client_key, policy_key
from scheduler.settings import SchedulerSettings
from scheduler.store import TimerStore
from shared.topology import Exchange, Topology
from tests.scheduler.support import CLINIC, POLICY, assignment_at, publish, soon
from tests.scheduler.test_policy_file import EXAMPLE
from tests.support.infra import AMQP_URL, wait_for
from tests.support.services import ROOT, running

POLICY_YAML = f"""
clinic_id: {CLINIC}
policy:
  policy_id: {POLICY}
  version: 1
  quiet_hours: {{start: "23:00", end: "05:00"}}
  caps: {{per_day: 4, per_week: 28}}
  default_rule: {{times_of_day: ["07:15", "19:45"], spread_minutes: 0}}
  messaging: {{clinic_name: Test clinic}}
"""
UNREACHABLE = "amqp://guest:guest@127.0.0.1:1/"


def test_check_accepts_the_example() -> None:
    out = io.StringIO()
    assert run(["check", str(EXAMPLE)], out=out) == OK
    assert out.getvalue().startswith("valid: clinic=clinic-001 policy=default-adult version=1")


def test_an_invalid_file_exits_2_before_any_connection(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY_YAML.replace("version: 1", "version: 0"))
    err = io.StringIO()
    # An unreachable broker would exit 1: exiting 2 shows that nothing was attempted.
    assert run(["apply", str(path), "--amqp-url", UNREACHABLE], err=err) == INVALID
    assert err.getvalue().splitlines() == [
        f"{path}: 1 problem; nothing published",
        "  - policy.version: Input should be greater than or equal to 1 (got 0)",
    ]


async def cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scheduler.policy_cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.integration
async def test_an_applied_policy_is_stored_and_plans_an_assignment(
    topology: Topology, rabbit_channel: AbstractChannel, redis: Redis, tmp_path: Path
) -> None:
    cfg = SchedulerSettings(namespace=topology.namespace, shard_count=4)
    store = TimerStore(redis, Keys(f"{cfg.redis_prefix}:{NAME}", cfg.shard_count))
    good, bad = tmp_path / "policy.yaml", tmp_path / "bad.yaml"
    good.write_text(POLICY_YAML)
    bad.write_text(POLICY_YAML.replace("per_week: 28", "per_week: 2"))
    target = ("apply", "--namespace", topology.namespace, "--amqp-url", AMQP_URL)
    async with running(create_app(cfg)):
        seen = await rabbit_channel.declare_queue(exclusive=True, auto_delete=True)
        await seen.bind(topology.exchange(Exchange.INBOUND), "clinic.policy.changed")

        assert await cli(target[0], str(bad), *target[1:]) == (INVALID, _expected_bad(bad))
        code, out = await cli(target[0], str(good), *target[1:])
        assert code == OK, out
        assert out.startswith(f"published and confirmed: clinic={CLINIC} policy={POLICY}")

        async def stored() -> bool:
            return await store.policy(policy_key(CLINIC, POLICY)) is not None

        await wait_for(stored, timeout=10)
        assignment = assignment_at(1, soon(3600))
        schedule = assignment.schedule.model_copy(update={"times_of_day": None})
        await publish(
            rabbit_channel, topology, assignment.model_copy(update={"schedule": schedule})
        )

        async def planned() -> bool:
            return bool((await store.load_client(client_key(CLINIC, "cl-1"))).timers)

        await wait_for(planned, timeout=10)
        state = await store.load_client(client_key(CLINIC, "cl-1"))
        first = await seen.get(timeout=5)
        assert await seen.get(fail=False) is None  # the invalid file published nothing
    policy = await store.policy(policy_key(CLINIC, POLICY))
    assert policy is not None
    assert policy.default_rule.times_of_day == (time(7, 15), time(19, 45))
    assert first.message_id is not None
    assert {member.split("|")[3] for member in state.timers} == {"0715", "1945"}


def _expected_bad(path: Path) -> str:
    return (
        f"{path}: 1 problem; nothing published\n"
        "  - policy.caps: caps.per_week must be at least caps.per_day\n"
    )
