"""The public-service satisfaction index (Indeks Kepuasan Masyarakat, IKM) the way
PermenPAN-RB No. 14/2017 computes it. Pure: no Redis, no catalog.

The regulation's nine elements (unsur) are each answered on a scale of 1 to 4 (the wording of
each element's four answers is in the catalogs: ``ikm.u<n>_<score>``). For one office and day:

- per element, the average score NRR = sum of its scores / respondents;
- weighted, NRR x 1/9 (the weight is 1 / the number of elements, the regulation's 0.111);
- IKM = the sum of the nine weighted NRR (on the 1-4 scale);
- the unit's IKM = IKM x 25 (on the 25-100 scale), and its quality category:
  A "Sangat Baik" 88.31-100.00, B "Baik" 76.61-88.30, C "Kurang Baik" 65.00-76.60,
  D "Tidak Baik" 25.00-64.99 (on the 1-4 scale: 3.5324-4.00, 3.0644-3.532, 2.60-3.064,
  1.00-2.5996).

Everything is computed exactly (fractions) and rounded only for showing, half up, as the
regulation's tables show it: NRR to 2 decimals, weighted NRR to 3, IKM to 4 (the precision of the
intervals above), the converted score to 2; the category is read on the converted score
rounded to 2 decimals, so the four ranges leave no gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

# The nine elements in the regulation's order (element n is ELEMENTS[n - 1]); catalog keys.
ELEMENTS = (
    "requirements",  # 1 Persyaratan
    "procedure",  # 2 Sistem, mekanisme dan prosedur
    "time",  # 3 Waktu penyelesaian
    "cost",  # 4 Biaya/tarif
    "product",  # 5 Produk spesifikasi jenis pelayanan
    "competence",  # 6 Kompetensi pelaksana
    "conduct",  # 7 Perilaku pelaksana
    "complaints",  # 8 Penanganan pengaduan, saran dan masukan
    "facilities",  # 9 Sarana dan prasarana
)
COUNT = len(ELEMENTS)
SCORES = (1, 2, 3, 4)
WEIGHT = Fraction(1, COUNT)
# The unit's IKM is the IKM on the 1-4 scale times this.
CONVERSION = 25
# The lowest converted score (2 decimals) of each category, best first.
CATEGORIES = (
    ("A", Decimal("88.31")),
    ("B", Decimal("76.61")),
    ("C", Decimal("65.00")),
    ("D", Decimal("25.00")),
)


def rounded(value: Fraction, places: int) -> Decimal:
    """``value`` to ``places`` decimals, half up (as a table would show it)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def category(converted: Decimal) -> str:
    """The quality category (A-D) of a converted score (25-100, 2 decimals)."""
    score = converted.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    for letter, lowest in CATEGORIES:
        if score >= lowest:
            return letter
    return "D"


@dataclass(frozen=True, slots=True)
class Index:
    """One office-day's IKM from its respondents' scores."""

    respondents: int
    # Per element, in order: the sum of its scores.
    sums: tuple[int, ...]

    @property
    def nrr(self) -> tuple[Fraction, ...]:
        """Per element, the average score (exact)."""
        return tuple(Fraction(s, self.respondents) for s in self.sums)

    @property
    def weighted(self) -> tuple[Fraction, ...]:
        """Per element, the average score times 1/9 (exact)."""
        return tuple(n * WEIGHT for n in self.nrr)

    @property
    def ikm(self) -> Fraction:
        """The sum of the weighted averages, on the 1-4 scale (exact)."""
        return sum(self.weighted, Fraction(0))

    @property
    def converted(self) -> Decimal:
        """The unit's IKM: IKM x 25, to 2 decimals."""
        return rounded(self.ikm * CONVERSION, 2)

    @property
    def category(self) -> str:
        return category(self.converted)


def index(sums: Sequence[int], respondents: int) -> Index | None:
    """The IKM of ``respondents`` whose scores add up to ``sums`` (one per element); None when
    nobody answered. Raises ValueError for sums no set of answers can make."""
    if len(sums) != COUNT:
        raise ValueError(f"{COUNT} elements, not {len(sums)}")
    if respondents < 0 or any(
        not min(SCORES) * respondents <= s <= max(SCORES) * respondents for s in sums
    ):
        raise ValueError(f"sums {list(sums)} cannot come from {respondents} respondents")
    if respondents == 0:
        return None
    return Index(respondents, tuple(sums))


def check_scores(scores: Sequence[int]) -> tuple[int, ...]:
    """One respondent's nine scores, each 1-4 (ValueError otherwise)."""
    if len(scores) != COUNT or any(s not in SCORES for s in scores):
        raise ValueError(f"{COUNT} scores of 1-4 expected, not {list(scores)}")
    return tuple(scores)
