"""The broadcast tally staff read: no internal status words inside the sentences."""

from __future__ import annotations

import pytest

from workers.broadcasts import Progress, tally_text


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
    id_line, en_line = tally_text("b1", p).splitlines()
    assert id_line.startswith(indonesian) and en_line.startswith(english)
    assert "(done)" not in id_line and "(cancelled)" not in id_line
