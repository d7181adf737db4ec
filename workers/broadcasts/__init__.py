"""Broadcasts: one text (per language) to everyone with an active booking, as RQ batch jobs.

State lives in Redis under the broadcast's ``{b:<id>}`` hash tag (one Cluster slot, so every
script touches one slot; :class:`bot.infra.keys.BroadcastKeys`):

- ``meta``: status (running / cancelled / done), the texts, who started it, the audience, and the
  counts ``total``, ``sent``, ``failed``, ``undeliverable``, ``unconfirmed``, ``cancelled``, plus
  ``batches`` and ``batches_left``;
- ``state``: recipient account -> pending | sending:<attempt> | sent | failed | undeliverable |
  unconfirmed | cancelled;
- ``batches``: batch number -> JSON list of [account, locale]; ``done``: set of finished batches.

The pieces: :mod:`.audience` (who gets it), :mod:`.plan` (record it, enqueue, resume, cancel),
:mod:`.job` (the RQ job that sends one batch), :mod:`.scripts` (its Lua), :mod:`.progress` (the
counts and the texts staff get) and :mod:`.cli` (``antrean broadcast``).

``workers.broadcasts.send_batch`` stays importable: batch jobs enqueued before the split name it.
"""

from bot.booking.jobs import EmptyAudience
from bot.infra.keys import BroadcastKeys
from workers.broadcasts.audience import (
    EVERY_OFFICE,
    Recipient,
    find_audience,
    interleave,
    parse_audience,
    per_office,
    scope_of,
    split_office,
)
from workers.broadcasts.cli import progress_bar, run_broadcast_cli
from workers.broadcasts.job import send_batch
from workers.broadcasts.plan import cancel_broadcast, create_broadcast, resume_broadcast
from workers.broadcasts.progress import Progress, progress, tally_text

__all__ = [
    "EVERY_OFFICE",
    "BroadcastKeys",
    "EmptyAudience",
    "Progress",
    "Recipient",
    "cancel_broadcast",
    "create_broadcast",
    "find_audience",
    "interleave",
    "parse_audience",
    "per_office",
    "progress",
    "progress_bar",
    "resume_broadcast",
    "run_broadcast_cli",
    "scope_of",
    "send_batch",
    "split_office",
    "tally_text",
]
