"""Broadcasts: one text (per language) to everyone with an active booking, as RQ batch jobs."""

from workers.broadcasts.job import (
    BroadcastKeys,
    EmptyAudience,
    Progress,
    Recipient,
    cancel_broadcast,
    create_broadcast,
    find_audience,
    interleave,
    parse_audience,
    progress,
    progress_bar,
    resume_broadcast,
    run_broadcast_cli,
    send_batch,
    tally_text,
)

__all__ = [
    "BroadcastKeys",
    "EmptyAudience",
    "Progress",
    "Recipient",
    "cancel_broadcast",
    "create_broadcast",
    "find_audience",
    "interleave",
    "parse_audience",
    "progress",
    "progress_bar",
    "resume_broadcast",
    "run_broadcast_cli",
    "send_batch",
    "tally_text",
]
