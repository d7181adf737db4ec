"""NIK validation, hashing and masking. Every NIK here is built from parts, never a real one."""

from __future__ import annotations

from datetime import date

import pytest

from bot.booking.nik import PROVINCE_CODES, NikHasher, last4, mask, validate_nik
from bot.errors import InvalidInput

TODAY = date(2030, 3, 4)
SECRET = b"s" * 32


def make_nik(
    province: str = "31",
    regency: str = "71",
    district: str = "01",
    birth: str = "150885",
    serial: str = "0001",
) -> str:
    return province + regency + district + birth + serial


MAN = make_nik()  # "3171011508850001"
WOMAN = make_nik(birth="550885")  # day 15 + 40


def rejected(raw: str, today: date = TODAY) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_nik(raw, today)
    return caught.value


def test_fixture_nik_is_the_documented_one() -> None:
    assert MAN == "3171011508850001"
    assert WOMAN == "3171015508850001"


@pytest.mark.parametrize("nik", [MAN, WOMAN])
def test_valid_nik_is_returned(nik: str) -> None:
    assert validate_nik(nik, TODAY) == nik


@pytest.mark.parametrize(
    "typed",
    [
        "3171 0115 0885 0001",
        "31.71.01.150885.0001",
        "3171-01-150885-0001",
        "  3171011508850001\n",
        "3171\u00a0011508850001",  # no-break space from a pasted text
        "3171\u2013011508850001",  # a keyboard's en dash
    ],
)
def test_separators_are_removed(typed: str) -> None:
    assert validate_nik(typed, TODAY) == MAN


@pytest.mark.parametrize(
    "typed",
    [
        "3171O11508850001",  # letter O
        "NIK 3171011508850001",
        "3171011508850001a",
        "3171/01/150885/0001",
        "³¹⁷¹011508850001",  # superscripts count as digits for str.isdigit()
        "\u0663\u0661\u0667\u0661011508850001",  # Arabic-Indic digits
    ],
)
def test_non_digits_are_rejected(typed: str) -> None:
    assert rejected(typed).key == "nik.digits"


@pytest.mark.parametrize("typed", ["", "317101150885000", "31710115088500011", "12345"])
def test_wrong_length_reports_the_count(typed: str) -> None:
    error = rejected(typed)
    assert error.key == "nik.length"
    assert error.params == {"count": len(typed)}


def test_length_counts_digits_after_separators() -> None:
    assert rejected("3171 0115 0885 000").params == {"count": 15}


def test_province_list_has_the_38_provinces() -> None:
    assert len(PROVINCE_CODES) == 38
    for code in ("11", "19", "21", "31", "36", "51", "53", "61", "65", "71", "76", "81", "82"):
        assert code in PROVINCE_CODES
    for code in ("91", "92", "93", "94", "95", "96"):
        assert code in PROVINCE_CODES


@pytest.mark.parametrize("province", ["00", "10", "20", "22", "30", "37", "50", "66", "83", "97"])
def test_unknown_province_is_rejected(province: str) -> None:
    assert rejected(make_nik(province=province)).key == "nik.province"


@pytest.mark.parametrize("province", sorted(PROVINCE_CODES))
def test_every_province_is_accepted(province: str) -> None:
    nik = make_nik(province=province)
    assert validate_nik(nik, TODAY) == nik


@pytest.mark.parametrize("parts", [{"regency": "00"}, {"district": "00"}])
def test_zero_regency_or_district_is_rejected(parts: dict[str, str]) -> None:
    assert rejected(make_nik(**parts)).key == "nik.region"


@pytest.mark.parametrize(
    "birth",
    [
        "000185",  # day 0
        "320185",  # day 32
        "400185",  # day 40: neither a man's nor a woman's day
        "720185",  # day 72 = woman's 32
        "150085",  # month 0
        "151385",  # month 13
        "310485",  # 31 April
        "710485",  # a woman's 31 April
        "290285",  # 29 February 1985
        "290230",  # 29 February 2030 (2030 is not a leap year)
    ],
)
def test_impossible_birth_dates_are_rejected(birth: str) -> None:
    assert rejected(make_nik(birth=birth)).key == "nik.birthdate"


@pytest.mark.parametrize(
    "birth",
    [
        "010101",
        "310185",
        "710185",  # a woman born on the 31st
        "410185",  # a woman born on the 1st
        "290200",  # 29 February 2000
        "690200",  # a woman born on 29 February 2000
        "040330",  # born today
        "010330",  # earlier this month
    ],
)
def test_real_birth_dates_are_accepted(birth: str) -> None:
    nik = make_nik(birth=birth)
    assert validate_nik(nik, TODAY) == nik


def test_future_birth_date_this_year_is_rejected() -> None:
    # 05-03-30 is tomorrow: the year is the latest one ending in 30 that is not after today (2030).
    assert rejected(make_nik(birth="050330")).key == "nik.birthdate"
    assert rejected(make_nik(birth="450330")).key == "nik.birthdate"


def test_century_is_the_latest_year_not_after_today() -> None:
    # With today in 2030, "31" can only be 1931 (2031 is in the future), so 29-02-31 is not a
    # date (1931 is not a leap year) while 29-02-28 is (2028 is).
    assert rejected(make_nik(birth="290231")).key == "nik.birthdate"
    assert validate_nik(make_nik(birth="290228"), TODAY) == make_nik(birth="290228")
    # Seen from 2024, "28" means 1928, which was a leap year too, and "00" means 2000.
    assert validate_nik(make_nik(birth="290228"), date(2024, 1, 1)) == make_nik(birth="290228")
    assert validate_nik(make_nik(birth="290200"), date(2024, 1, 1)) == make_nik(birth="290200")


def test_serial_zero_is_rejected() -> None:
    assert rejected(make_nik(serial="0000")).key == "nik.serial"


def test_errors_never_carry_the_nik() -> None:
    for raw in (make_nik(province="97"), make_nik(serial="0000"), make_nik(birth="320185")):
        error = rejected(raw)
        assert raw not in str(error)
        assert raw not in repr(error.params)
        assert raw[12:] not in str(error)


def test_hash_is_stable_and_keyed() -> None:
    hasher = NikHasher(SECRET)
    digest = hasher.hash(MAN)
    assert digest == NikHasher(SECRET).hash(MAN)
    assert len(digest) == 32
    assert all(char in "0123456789abcdef" for char in digest)
    assert MAN not in digest
    assert hasher.hash(WOMAN) != digest
    assert NikHasher(b"t" * 32).hash(MAN) != digest


def test_hash_is_domain_separated() -> None:
    import hashlib
    import hmac

    undomained = hmac.new(SECRET, MAN.encode(), hashlib.sha256).hexdigest()[:32]
    assert NikHasher(SECRET).hash(MAN) != undomained


def test_hash_refuses_unvalidated_text() -> None:
    with pytest.raises(ValueError) as caught:
        NikHasher(SECRET).hash("3171 0115 0885 0001")
    assert "3171" not in str(caught.value)


@pytest.mark.parametrize("secret", [b"", b"x" * 15])
def test_short_secret_is_refused(secret: bytes) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        NikHasher(secret)


def test_sixteen_byte_secret_is_enough() -> None:
    assert len(NikHasher(b"x" * 16).hash(MAN)) == 32


def test_last4_and_mask() -> None:
    assert last4(MAN) == "0001"
    assert mask(MAN) == "************0001"
    assert len(mask(MAN)) == 16
