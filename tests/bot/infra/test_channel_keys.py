"""The channels' keys come from bot/infra/keys.py, and their strings are the ones data already in
Redis was written under: a change here would orphan it."""

from __future__ import annotations

from bot.core.pacing import channel_key, recipient_key
from bot.infra.keys import ChannelKeys, SessionKeys, channel_pace, hash_tag


def test_channel_keys_are_the_strings_of_before() -> None:
    keys = ChannelKeys("whatsapp", "628123")
    tag = "antrean:{u:whatsapp:628123}"
    assert keys.tag == tag
    assert keys.pace == f"{tag}:pace"
    assert keys.pages == f"{tag}:pages"
    assert keys.choices == f"{tag}:choices"
    assert keys.lastin == f"{tag}:lastin"
    assert keys.undeliverable == f"{tag}:undeliverable"
    assert keys.delivery == f"{tag}:delivery"
    assert keys.fallback("wamid.1") == f"{tag}:fallback:wamid.1"
    assert keys.fallback_sent("wamid.1") == f"{tag}:fallback:wamid.1:sent"
    assert channel_pace("telegram") == "antrean:{pace:telegram}"
    assert channel_key("telegram") == channel_pace("telegram")
    assert recipient_key("telegram", "42") == ChannelKeys("telegram", "42").pace


def test_a_users_channel_keys_share_the_sessions_slot() -> None:
    """One hash tag: a script may touch the session and the channel's keys of one user."""
    session = SessionKeys("telegram:42").session
    assert session.startswith(ChannelKeys("telegram", "42").tag + ":")


def test_hash_tags_are_read_as_redis_cluster_reads_them() -> None:
    assert hash_tag("antrean:{u:telegram:42}:pace") == "u:telegram:42"
    assert hash_tag(SessionKeys("telegram:42").session) == hash_tag(recipient_key("telegram", "42"))
    assert hash_tag(channel_pace("telegram")) == "pace:telegram"
    # An empty tag, or none, hashes the whole key; only the first "{" counts.
    assert hash_tag("a{}b") == "a{}b" and hash_tag("plain") == "plain"
    assert hash_tag("a{{x}}") == "{x" and hash_tag("a{x}{y}") == "x"
