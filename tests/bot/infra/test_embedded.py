from __future__ import annotations

import socket
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


def test_free_ports_are_below_the_ephemeral_range_and_never_repeat() -> None:
    """A port the kernel may give an outgoing connection (its ephemeral range) could be taken
    between free_port() and the server's bind: free_port stays below that range."""
    from bot.infra.embedded import ephemeral_port_low, free_port

    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(1024 <= port < ephemeral_port_low() for port in ports)
    # Outgoing connections take their local ports from the ephemeral range, never these.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        clients = [socket.create_connection(listener.getsockname()[:2]) for _ in range(20)]
        try:
            assert not {c.getsockname()[1] for c in clients} & set(ports)
        finally:
            for client in clients:
                client.close()
