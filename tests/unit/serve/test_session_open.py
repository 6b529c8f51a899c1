"""Opening an env session is cheap: the env is built in the pool, and the first reset waits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import assay
from assay.serve.sessions import EnvSessions, SessionError

ARITH = "assay/Arithmetic-v0"


def _sessions(make, **kw):
    return EnvSessions(
        frozenset({ARITH}),
        {},
        max_sessions=kw.get("max_sessions", 64),
        max_sessions_per_client=64,
        idle_s=60.0,
        threads=2,
        make=make,
    )


def test_open_without_wait_returns_before_the_env_is_built_and_reset_waits():
    gate = threading.Event()

    def slow_make(env_id, **kwargs):
        gate.wait(10)
        return assay.make(env_id)

    async def run():
        sessions = _sessions(slow_make)
        start = time.monotonic()
        opened = [await sessions.open(ARITH, "c", wait=False) for _ in range(20)]
        assert time.monotonic() - start < 1.0 and len(sessions) == 20
        assert all(s.env is None for s in opened)
        reset = asyncio.ensure_future(sessions.reset(opened[0], {"seed": 3}))
        await asyncio.sleep(0.1)
        assert not reset.done()  # waiting on the build
        gate.set()
        got = await reset
        assert got["observation"]["text"] == assay.make(ARITH).reset(seed=3)[0]
        for s in opened:
            await sessions.close(s)
        assert len(sessions) == 0
        await sessions.close_all()

    asyncio.run(run())


def test_a_failed_build_is_reported_on_reset_and_frees_the_slot():
    def broken(env_id, **kwargs):
        raise OSError("/secret/path missing")

    async def run():
        sessions = _sessions(broken, max_sessions=1)
        session = await sessions.open(ARITH, "c", wait=False)
        with pytest.raises(SessionError) as e:
            await sessions.reset(session, {})
        assert e.value.code == "ENV_ERROR" and "secret" not in str(e.value)
        assert session.failed
        await sessions.close(session)
        with pytest.raises(SessionError) as e:  # the waiting form reports it at open and frees it
            await sessions.open(ARITH, "c")
        assert e.value.code == "ENV_ERROR" and len(sessions) == 0
        await sessions.close_all()

    asyncio.run(run())
