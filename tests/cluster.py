"""A real Redis Cluster of three masters on loopback, made from redis-server processes."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from bot.infra.embedded import RedisServer, claim_port, ephemeral_port_low, free_port

SLOTS = 16384


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too and, like the ports of
    free_port, below the kernel's ephemeral range (where an outgoing connection could take it
    before the node binds it), when the range leaves room for that."""
    limit = ephemeral_port_low()
    if limit - 10000 <= 1024:
        limit = 65536
    for _ in range(1000):
        port = free_port()
        if port + 10000 < limit and claim_port(port + 10000):
            return port
    raise RuntimeError("no free port pair (node, cluster bus) for a cluster node")


class LocalCluster:
    def __init__(self, base_dir: Path, masters: int = 3) -> None:
        cluster_args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        self.nodes = [
            RedisServer(
                base_dir / f"node{i}",
                port=cluster_port(),
                extra_args=(*cluster_args, "--cluster-node-timeout", "5000"),
            )
            for i in range(masters)
        ]

    @staticmethod
    def port_of(node: RedisServer) -> int:
        assert node.port is not None  # made with a port
        return node.port

    @property
    def url(self) -> str:
        return "redis-cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, timeout: float = 30.0) -> None:
        for node in self.nodes:
            node.start()
        clients = [redis.Redis(port=self.port_of(n)) for n in self.nodes]
        share = SLOTS // len(clients)
        for i, client in enumerate(clients):
            last = SLOTS - 1 if i == len(clients) - 1 else (i + 1) * share - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)  # type: ignore[no-untyped-call]
        for node in self.nodes[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [c.cluster("INFO") for c in clients]
            if all(
                i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == len(clients)
                for i in infos
            ):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the test cluster did not come up")
        for client in clients:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
