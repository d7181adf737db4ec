"""The seat-book and session tests of the core, run again on a real three-master Redis Cluster.

The test functions are imported, so pytest collects them here too, where the ``redis`` fixture is a
cluster client: the same assertions, a different topology. (Round-trip counts and the unreachable-
server test are about one standalone connection and stay where they are.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.cluster import key_slot

from bot.booking.app import App
from bot.core.clock import ManualClock
from bot.infra.redis import WaitingCluster, client_for, parse_url
from tests.bot.booking.test_seats import (  # noqa: F401 - collected again, on the cluster
    book,
    test_2000_concurrent_confirmations_for_100_seats,
    test_account_may_hold_at_most_max_active_bookings,
    test_active_for_account_is_sorted_by_day_then_window,
    test_availability_of_many_day_services,
    test_cancel_returns_the_seat_and_frees_the_nik,
    test_capacity_never_goes_below_booked,
    test_closed_day_has_no_seats,
    test_confirm_after_expiry_books_a_seat_that_is_still_free,
    test_confirm_after_expiry_is_sold_out_when_the_seat_was_taken,
    test_confirm_is_idempotent_per_hold_id_and_account,
    test_confirm_turns_the_hold_into_a_booking,
    test_confirm_with_an_id_of_another_account_is_a_collision,
    test_every_key_carries_its_office_hash_tag,
    test_hold_takes_a_seat_until_it_expires_by_the_clock,
    test_holding_again_moves_the_hold_without_leaking,
    test_one_nik_books_once_however_many_race,
    test_refused_rehold_keeps_the_previous_hold,
    test_release_returns_the_seat,
    test_reschedule_into_a_closed_day_is_refused,
    test_reschedule_moves_the_seat_once,
    test_reschedule_to_a_full_window_changes_nothing,
    test_reschedule_to_another_day_takes_its_number,
    test_reschedule_within_a_full_window_keeps_the_seat,
    test_staff_cancel_needs_no_account,
)
from tests.bot.booking.test_snapshot import (  # noqa: F401 - collected again, on the cluster
    test_a_hold_elsewhere_reaches_the_snapshot,
)
from tests.bot.booking.test_survey import (  # noqa: F401 - collected again, on the cluster
    survey_app,
    test_a_booking_surveyed_by_many_racing_answers_counts_once,
    test_a_served_booking_is_surveyed_once_by_its_account,
)
from tests.bot.core.test_sessions import (  # noqa: F401 - collected again, on the cluster
    test_a_dead_holders_lease_expires_and_nothing_is_lost,
    test_a_redelivered_message_is_a_duplicate,
    test_begin_and_finish_round_trip,
    test_begin_says_whether_the_users_outbox_holds_replies,
    test_messages_behind_the_holder_are_queued_and_handed_over_in_order,
)
from tests.cluster import LocalCluster
from tests.handlers.test_booking import (  # noqa: F401 - the whole conversation, on the cluster
    test_a_whole_booking,
    user,
)
from tests.handlers.test_network import (  # noqa: F401 - the network's seat book, on the cluster
    app,
    offices,
    test_bookings_from_before_account_claims_get_theirs_at_the_day_end,
    test_one_account_in_two_offices_at_once_exactly_one_wins,
    test_one_nik_in_two_offices_at_once_exactly_one_wins,
)


class WholeCluster(WaitingCluster):
    """What the shared tests expect of ``KEYS``: every key, not one node's."""

    async def keys(self, pattern: Any = "*", **kwargs: Any) -> Any:
        return await super().keys(pattern, target_nodes=RedisCluster.PRIMARIES, **kwargs)


@pytest.fixture
async def redis(redis_cluster: LocalCluster) -> AsyncIterator[aioredis.Redis]:
    nodes = [ClusterNode("127.0.0.1", node.port) for node in redis_cluster.nodes]
    client = WholeCluster(startup_nodes=nodes, decode_responses=True)
    await client.flushall()
    yield client  # type: ignore[misc]
    await client.aclose()


@pytest.fixture
async def pooled(
    redis: aioredis.Redis, redis_cluster: LocalCluster
) -> AsyncIterator[aioredis.Redis]:
    """The production client (bot/infra/redis.py), whose burst of thousands of calls waits its
    turn."""
    client = client_for(redis_cluster.url)
    yield client
    await client.aclose()


async def test_the_offices_of_these_tests_live_on_different_shards(
    redis: aioredis.Redis, redis_cluster: LocalCluster
) -> None:
    slots = {
        office: key_slot(f"{{o:{office}}}".encode()) for office in ("kua-menteng", "dukcapil-1")
    }
    owners = {}
    for office in slots:
        node = redis.get_node_from_key(f"antrean:{{o:{office}}}:niks")  # type: ignore[attr-defined]
        owners[office] = node.port
    assert len(set(owners.values())) == 2, (slots, owners)


async def test_the_network_offices_of_these_tests_live_on_different_shards(
    redis: aioredis.Redis,
) -> None:
    """The two offices the network's races use: their keys on two different masters, so that
    the NIK and account claims are the only thing the two confirmations share."""
    owners = {
        office: redis.get_node_from_key(f"antrean:{{o:{office}}}:niks").port  # type: ignore[attr-defined]
        for office in ("kanim-jaksel", "kanim-makassar")
    }
    assert len(set(owners.values())) == 2, owners


def test_cluster_urls_parse() -> None:
    topology = parse_url("redis-cluster://secret@10.0.0.1:7000,10.0.0.2:7001")
    assert topology.kind == "cluster" and topology.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert topology.password == "secret"
    sentinel = parse_url("redis-sentinel://s1:26379,s2:26379/mymaster/2")
    assert (sentinel.kind, sentinel.master, sentinel.db) == ("sentinel", "mymaster", 2)


async def test_a_scrape_reads_every_offices_seats_across_the_masters(
    redis: aioredis.Redis,
    clock: ManualClock,
    app: App,  # noqa: F811 - the network's fixture, imported above
) -> None:
    """``/metrics``' one pipeline (bot/booking/availability.py) holds offices of every master:
    each office's call goes to its own, the script is loaded on all of them when unknown."""
    from bot.booking.availability import read_seats_left, seats_left
    from tests.support import NIK_MAN, hold_and_book

    booked = await hold_and_book(app, "kanim-makassar", "console:8001", NIK_MAN)
    books = [(s.office, s.seats) for s in app.offices.values()]
    await redis.script_flush()
    read = await read_seats_left(redis, books, clock.now())
    for (office, seats), left in zip(books, read, strict=True):
        assert left == await seats_left(office, seats, clock.now())
    by_office = dict(zip(app.offices, read, strict=True))
    key = (booked.day, booked.service)
    assert by_office["kanim-makassar"][key] == by_office["kanim-jaksel"][key] - 1
