from __future__ import annotations

from pathlib import Path

from bot.infra.embedded import RedisServer, find_redis_server, release_shared_server, shared_server


def test_find_redis_server_returns_an_executable() -> None:
    assert Path(find_redis_server()).exists()


def test_shared_server_is_reused_and_stopped_by_the_last_user(tmp_path: Path) -> None:
    first = shared_server(tmp_path)
    try:
        with first.client() as conn:
            conn.set("k", "v")
        second = shared_server(tmp_path)  # another process of the checkout would do this
        assert second.process is None  # it found the running server and started none
        with second.client() as conn:
            assert conn.get("k") == b"v"
        # Another user (the first) still holds it: it keeps running.
        release_shared_server(second)
        assert first.ping()
    finally:
        release_shared_server(first)
    assert not first.ping()
    # AOF is on: the data survives a restart.
    again = shared_server(tmp_path)
    try:
        with again.client() as conn:
            assert conn.get("k") == b"v"
    finally:
        release_shared_server(again)


def test_tcp_server_starts_on_a_port(tmp_path: Path) -> None:
    from bot.infra.embedded import free_port

    server = RedisServer(tmp_path, port=free_port())
    server.start()
    try:
        assert server.ping()
    finally:
        server.stop()
    assert not server.ping()
