"""Every step the booking bot's steps and commands name is registered (checked at start-up)."""

from __future__ import annotations

from bot.core.dialog import ANYWHERE
from handlers import build_steps


def test_the_booking_bots_step_targets_are_all_registered() -> None:
    steps = build_steps()
    steps.check()
    assert steps.language == "language" and steps.words["bahasa"] == "language"
    # Only the detours back to where the user was go anywhere.
    anywhere = sorted(n for n, s in steps.steps.items() if ANYWHERE in s.goes_to)
    assert anywhere == ["language", "staff.confirm"]
