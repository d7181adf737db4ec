"""The broadcast tally staff read: no internal status words inside the sentences."""

from __future__ import annotations

import pytest

from bot.booking.app import LOCALE_DIR
from bot.core.i18n import Catalog
from workers.broadcasts import Progress, tally_text
from workers.broadcasts.progress import progress_text


@pytest.mark.parametrize(
    ("status", "indonesian", "english"),
    [
        ("done", "Siaran b1 selesai:", "Broadcast b1 finished:"),
        ("cancelled", "Siaran b1 dihentikan:", "Broadcast b1 stopped:"),
    ],
)
def test_the_tally_says_how_the_broadcast_ended_in_words(
    status: str, indonesian: str, english: str
) -> None:
    p = Progress(status, 10, 7, 1, 1, 0, 1, 1, 0, True)
    id_line, en_line = tally_text(Catalog.load(LOCALE_DIR), "b1", p).splitlines()
    assert id_line.startswith(indonesian) and en_line.startswith(english)
    assert "(done)" not in id_line and "(cancelled)" not in id_line


def test_the_progress_and_tally_texts_come_from_the_catalogs_one_line_per_language() -> None:
    catalog = Catalog.load(LOCALE_DIR)
    p = Progress("done", 10, 7, 1, 1, 0, 1, 1, 0, True)
    assert progress_text(catalog, "b1", 50, p) == (
        "Siaran b1: 50% — 7/10 terkirim, 1 gagal.\nBroadcast b1: 50% — 7/10 sent, 1 failed."
    )
    assert tally_text(catalog, "b1", p) == (
        "Siaran b1 selesai: 7/10 terkirim, 1 gagal, 1 tidak dapat dikirim, 0 tidak pasti, "
        "1 dibatalkan.\nBroadcast b1 finished: 7/10 sent, 1 failed, 1 undeliverable, "
        "0 unconfirmed, 1 cancelled."
    )
