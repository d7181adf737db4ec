"""The NIK (Nomor Induk Kependudukan), the 16-digit Indonesian national ID number.

Layout, left to right: PP KK CC DDMMYY SSSS
    PP      province (Kemendagri region code)
    KK      regency (kabupaten) or city (kota) within the province
    CC      district (kecamatan)
    DDMMYY  birth date; women have 40 added to the day
    SSSS    serial number among people registered with the same prefix

A NIK is personal data. It is validated here, then only its keyed hash is stored (``NikHasher``)
and only its last four digits are shown back (``mask``). Nothing in this module logs a NIK or puts
one into an exception, because exceptions end up in logs and error trackers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from bot.errors import InvalidInput

NIK_LENGTH = 16

# Province codes (two digits) of the 38 current provinces, from Kemendagri's "Kode dan Data
# Wilayah Administrasi Pemerintahan" (Permendagri 72/2019, and the Kepmendagri updates since 2022
# that added the four provinces split off Papua and Papua Barat in 2022; cross-checked with the
# "Kode Kemendagri" of each province's Wikipedia article):
#   11-19 Sumatra and Bangka Belitung, 21 Kepulauan Riau, 31-36 Java, 51-53 Bali and Nusa
#   Tenggara, 61-65 Kalimantan, 71-76 Sulawesi, 81-82 Maluku, 91 Papua, 92 Papua Barat,
#   93 Papua Selatan, 94 Papua Tengah, 95 Papua Pegunungan, 96 Papua Barat Daya.
# 97 is deliberately absent: it is the BPS (statistics bureau) code of Papua Pegunungan, not a
# Kemendagri one, and Dukcapil issues NIKs with Kemendagri codes. NIKs issued before a province was
# split keep their old prefix, which is why 91 and 92 stay valid for everyone in Papua.
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        *(str(code) for code in range(11, 20)),
        "21",
        *(str(code) for code in range(31, 37)),
        "51",
        "52",
        "53",
        *(str(code) for code in range(61, 66)),
        *(str(code) for code in range(71, 77)),
        "81",
        "82",
        *(str(code) for code in range(91, 97)),
    }
)

# What people put between digit groups when they copy a NIK from the card or type it on a phone:
# spaces (including the no-break kind some keyboards insert), dots, and dashes of any width.
_SEPARATORS = re.compile(r"[\s.\-\u2010-\u2015\u2212]+")
_DIGITS = re.compile(r"[0-9]*")
_WOMAN_DAY_OFFSET = 40


def validate_nik(raw: str, today: date) -> str:
    """Return the 16 digits of the NIK the user typed, or raise :class:`InvalidInput`.

    ``today`` decides the century of the two-digit birth year and rejects birth dates in the
    future; pass the office's local date from the injected clock.
    """
    nik = _SEPARATORS.sub("", raw)
    # [0-9] rather than str.isdigit(): that also accepts superscripts and other scripts' digits.
    if not _DIGITS.fullmatch(nik):
        raise InvalidInput("nik.digits")
    if len(nik) != NIK_LENGTH:
        raise InvalidInput("nik.length", count=len(nik))
    if nik[0:2] not in PROVINCE_CODES:
        raise InvalidInput("nik.province")
    if nik[2:4] == "00" or nik[4:6] == "00":
        raise InvalidInput("nik.region")
    if _birth_date(nik[6:12], today) is None:
        raise InvalidInput("nik.birthdate")
    if nik[12:16] == "0000":
        raise InvalidInput("nik.serial")
    return nik


def _birth_date(ddmmyy: str, today: date) -> date | None:
    """The date in DDMMYY (day + 40 for women), or None if it is not a real date up to today."""
    day, month, yy = int(ddmmyy[0:2]), int(ddmmyy[2:4]), int(ddmmyy[4:6])
    if day > _WOMAN_DAY_OFFSET:
        day -= _WOMAN_DAY_OFFSET
    # The latest year ending in yy that is not after this year: with today in 2030, "30" is 2030
    # and "31" is 1931.
    year = today.year - (today.year - yy) % 100
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    return born if born <= today else None


class NikHasher:
    """Turns a NIK into a stable pseudonym for storage and for the one-booking-per-NIK rule.

    A plain SHA-256 of a NIK is reversible by brute force (the NIK space is small and structured),
    so the hash is keyed with a server secret. The domain prefix keeps these MACs distinct from
    anything else computed with the same secret.
    """

    _DOMAIN = b"antrean-nik\x00"
    _HEX_CHARS = 32  # 128 bits: far beyond any collision risk among a country's population

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError(
                "The NIK hashing secret must be at least 16 bytes long; generate one with "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`."
            )
        self._secret = secret

    def hash(self, nik: str) -> str:
        """The keyed hash of a NIK returned by :func:`validate_nik` (32 hex characters)."""
        # Hashing raw user text ("3171 0115...") would give a different hash for the same person
        # and silently defeat the one-booking-per-NIK rule, so refuse anything not yet validated.
        # The message deliberately does not repeat the value.
        if len(nik) != NIK_LENGTH or not _DIGITS.fullmatch(nik):
            raise ValueError("NikHasher.hash takes the 16 digits returned by validate_nik.")
        mac = hmac.new(self._secret, self._DOMAIN + nik.encode("ascii"), hashlib.sha256)
        return mac.hexdigest()[: self._HEX_CHARS]


def last4(nik: str) -> str:
    """The last four digits, the only part of a NIK we ever show back or store in clear."""
    return nik[-4:]


def mask(nik: str) -> str:
    """The NIK for display, e.g. ``************0001``: enough for a user to recognise it."""
    return "*" * (len(nik) - len(last4(nik))) + last4(nik)
