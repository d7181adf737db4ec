"""The Redis client a process gets for a standalone URL."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.asyncio.connection import Connection

from bot.infra.embedded import RedisServer
from bot.infra.redis import LeanConnection, WaitingPool, client_for, production_options


async def test_a_burst_waits_for_a_pooled_connection_instead_of_failing(
    redis_server: RedisServer,
) -> None:
    # Two connections, twenty commands that each hold one for 50 ms: redis-py's default pool
    # would refuse eighteen of them ("Too many connections"); they must queue instead.
    client = client_for(redis_server.url, max_connections=2)
    try:
        replies = await asyncio.gather(
            *(client.blpop([f"nothing:{n}"], timeout=0.05) for n in range(20))
        )
        assert replies == [None] * 20
    finally:
        await client.aclose()


async def test_a_wait_for_a_connection_is_bounded_and_gives_up_cleanly(
    redis_server: RedisServer,
) -> None:
    # One connection held for 0.5 s, a pool wait of 0.1 s: the second command fails with
    # redis-py's "No connection available." and the pool is whole again afterwards.
    client = client_for(redis_server.url, max_connections=1)
    pool = client.connection_pool
    assert isinstance(pool, WaitingPool)
    pool.timeout = 0.1
    try:
        held = asyncio.create_task(client.blpop(["nothing"], timeout=0.5))
        await asyncio.sleep(0.05)
        with pytest.raises(redis.ConnectionError, match="No connection available"):
            await client.get("k")
        assert await held is None
        assert await client.get("k") is None
        assert not pool._waiters
    finally:
        await client.aclose()


async def test_a_cancelled_wait_leaves_no_waiter_behind(redis_server: RedisServer) -> None:
    client = client_for(redis_server.url, max_connections=1)
    pool = client.connection_pool
    assert isinstance(pool, WaitingPool)
    try:
        held = asyncio.create_task(client.blpop(["nothing"], timeout=0.2))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(client.get("k"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await held is None
        assert not pool._waiters
        assert await asyncio.wait_for(client.get("k"), 1) is None
    finally:
        await client.aclose()


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    # hiredis's packer, byte for byte what redis-py's Python one sends, words split and all.
    ours, theirs = LeanConnection(), Connection()
    for args in [
        ("SET", "k", "é ü", 7),
        ("EVALSHA", "0" * 40, 2, "{a}:x", "{a}:y", 1.5, -3, b"\x00\xff"),
        ("CONFIG GET", "maxmemory"),
        (b"CLIENT SETNAME", "antrean"),
    ]:
        assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))
    for bad in (None, True, {"a": 1}):
        with pytest.raises(redis.DataError):
            ours.pack_command("SET", "k", bad)


async def test_the_production_client_has_the_lean_connection_and_works(
    redis_server: RedisServer,
) -> None:
    client = client_for(redis_server.url, **production_options(4))
    try:
        assert client.connection_pool.connection_class is LeanConnection
        pipe = client.pipeline(transaction=False)
        pipe.set("lean:k", "nilai ✓", ex=60).get("lean:k").delete("lean:k")
        assert await pipe.execute() == [True, "nilai ✓", 1]
    finally:
        await client.aclose()


async def test_a_write_the_server_never_takes_times_out_and_drops_the_connection() -> None:
    # A "server" that accepts and never reads: the socket buffers fill, and the write must fail
    # with redis-py's TimeoutError after socket_timeout (not hang), as redis-py's own does.
    done = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = LeanConnection(host="127.0.0.1", port=port, socket_timeout=0.3)
    try:
        await connection._connect()  # the socket alone: this "server" would not answer a HELLO
        started = asyncio.get_running_loop().time()
        with pytest.raises(redis.TimeoutError, match="writing"):
            await connection.send_command("SET", "k", "x" * (64 << 20), check_health=False)
        assert asyncio.get_running_loop().time() - started < 5
        assert not connection.is_connected
    finally:
        await connection.disconnect()
        done.set()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # the handler closes its side
