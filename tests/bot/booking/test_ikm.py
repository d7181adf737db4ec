"""The IKM computation of PermenPAN-RB No. 14/2017 (bot/booking/ikm.py): a worked example
computed by hand, and the edges of the quality categories."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from bot.booking.ikm import ELEMENTS, category, check_scores, index, rounded


def test_a_worked_example_computed_by_hand() -> None:
    # Four respondents. Sums per element (U1..U9) and, by hand, NRR = sum / 4:
    #   13 -> 3.25, 12 -> 3.00, 11 -> 2.75, 16 -> 4.00, 12 -> 3.00, 14 -> 3.50, 15 -> 3.75,
    #   10 -> 2.50, 12 -> 3.00.
    # Weighted NRR = NRR / 9: 0.361, 0.333, 0.306, 0.444, 0.333, 0.389, 0.417, 0.278, 0.333.
    # IKM = (sum of NRR 28.75) / 9 = 3.19444...; the unit's IKM = 3.19444... x 25 = 79.861...
    # -> 79.86, category B (Baik: 76.61-88.30).
    found = index([13, 12, 11, 16, 12, 14, 15, 10, 12], 4)
    assert found is not None
    assert [rounded(n, 2) for n in found.nrr] == [
        Decimal(v) for v in ("3.25", "3.00", "2.75", "4.00", "3.00", "3.50", "3.75", "2.50", "3.00")
    ]
    assert [rounded(w, 3) for w in found.weighted] == [
        Decimal(v)
        for v in ("0.361", "0.333", "0.306", "0.444", "0.333", "0.389", "0.417", "0.278", "0.333")
    ]
    assert found.ikm == Fraction(2875, 900)
    assert rounded(found.ikm, 4) == Decimal("3.1944")
    assert found.converted == Decimal("79.86")
    assert found.category == "B"
    assert len(ELEMENTS) == 9


def test_the_extremes() -> None:
    best, worst = index([8] * 9, 2), index([2] * 9, 2)
    assert best is not None and worst is not None
    assert (best.converted, best.category) == (Decimal("100.00"), "A")
    assert (worst.converted, worst.category) == (Decimal("25.00"), "D")
    assert index([0] * 9, 0) is None


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        ("100.00", "A"),
        ("88.31", "A"),
        ("88.30", "B"),
        ("76.61", "B"),
        ("76.60", "C"),
        ("65.00", "C"),
        ("64.99", "D"),
        ("25.00", "D"),
    ],
)
def test_category_edges(score: str, grade: str) -> None:
    assert category(Decimal(score)) == grade


def test_the_converted_score_is_rounded_half_up_before_its_category() -> None:
    # 5000 respondents, every element summing to 15321: IKM x 25 = 25 x 137889 / 45000 = 76.605
    # exactly, shown as 76.61: category B, not C.
    found = index([15321] * 9, 5000)
    assert found is not None
    assert found.ikm * 25 == Fraction(76605, 1000)
    assert (found.converted, found.category) == (Decimal("76.61"), "B")
    # Just under: 15320 each -> 76.6 -> C.
    under = index([15320] * 9, 5000)
    assert under is not None and (under.converted, under.category) == (Decimal("76.60"), "C")


def test_impossible_sums_and_scores_are_refused() -> None:
    with pytest.raises(ValueError):
        index([4] * 8, 1)
    with pytest.raises(ValueError):
        index([5] + [4] * 8, 1)
    with pytest.raises(ValueError):
        index([0] + [4] * 8, 1)
    with pytest.raises(ValueError):
        check_scores([1, 2, 3, 4, 5, 1, 2, 3, 4])
    with pytest.raises(ValueError):
        check_scores([1] * 8)
    assert check_scores([1, 2, 3, 4, 1, 2, 3, 4, 4]) == (1, 2, 3, 4, 1, 2, 3, 4, 4)
