"""Writes that ride along with a turn's save.

Some of a turn's Redis writes need no answer before the user gets theirs: the audit entry of a
booking, the count of the replies in the pacing buckets. Rather than a round trip each, they are
collected during the turn (:meth:`bot.dialog.Context.later`, :meth:`channels.base.Channel.reply`)
and sent in one pipeline with the script that saves the session (:meth:`SessionStore.finish
<bot.sessions.SessionStore.finish>`), after the replies are out.

Keys in one pipeline may live in different Redis Cluster slots: the cluster client sends each
node its share.
"""

from __future__ import annotations

from dataclasses import dataclass

Arg = str | int | float


@dataclass(frozen=True)
class Write:
    """One Redis command whose answer nobody waits for.

    ``script`` is the Lua source when ``args`` is an ``EVALSHA`` of it: on a fresh (or flushed)
    server the script is loaded and the command sent again.
    """

    args: tuple[Arg, ...]
    script: str | None = None
