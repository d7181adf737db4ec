"""Booking codes: short enough to read out at a counter, typable, and unforgeable.

A code is 12 Crockford base32 characters shown as ``XXXX-XXXX-XXXX``: the 6-character booking id
followed by a 6-character MAC (30 bits) over the office, the booking id and the NIK hash. Staff can
check a code without a lookup, and nobody can make up a valid code for someone else's booking or
move one to another office or person. Crockford's alphabet leaves out I, L, O and U so that what is
read aloud or handwritten comes back unambiguous; ``parse`` accepts the usual mistypings.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import struct
import zlib
from collections.abc import Sequence

import segno

from bot.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_LENGTH = 6
MAC_LENGTH = 6
CODE_LENGTH = ID_LENGTH + MAC_LENGTH
GROUP = 4

_BITS_PER_CHAR = 5
_MAC_BITS = MAC_LENGTH * _BITS_PER_CHAR
_DOMAIN = b"antrean-code\x00"
_ALPHABET_SET = frozenset(ALPHABET)
# Spaces and anything a phone keyboard may turn a hyphen into.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
# Crockford's decoding aliases: letters that look like digits decode as those digits.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _min_secret(secret: bytes, what: str) -> None:
    if len(secret) < 16:
        raise ValueError(
            f"The {what} secret must be at least 16 bytes long; generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )


def _is_code_text(text: str, length: int) -> bool:
    return len(text) == length and all(char in _ALPHABET_SET for char in text)


class BookingCodes:
    def __init__(self, secret: bytes) -> None:
        _min_secret(secret, "booking code")
        self._secret = secret

    def new_id(self) -> str:
        """A random booking id of 6 Crockford characters (30 bits)."""
        # 2**30 ids: collisions are rare but possible, so the caller must reserve the id atomically
        # and draw again when it is taken.
        return "".join(secrets.choice(ALPHABET) for _ in range(ID_LENGTH))

    def id_for(self, *parts: str) -> str:
        """A booking id derived from ``parts`` (e.g. the user and the message that asked for
        the seat): the same message run again after a crash asks for the same id, so its hold is
        replaced instead of leaked. Unpredictable without the secret key, like ``new_id``."""
        message = b"\x00".join(part.encode("utf-8") for part in parts)
        digest = hmac.new(self._secret, b"antrean-id\x00" + message, hashlib.sha256).digest()
        bits = int.from_bytes(digest[:4], "big") >> (32 - 5 * ID_LENGTH)
        return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(ID_LENGTH)))

    def code(self, office_id: str, booking_id: str, nik_hash: str) -> str:
        """The code for a booking, grouped for display: ``XXXX-XXXX-XXXX``."""
        raw = booking_id + self._mac(office_id, booking_id, nik_hash)
        return "-".join(raw[start : start + GROUP] for start in range(0, CODE_LENGTH, GROUP))

    @staticmethod
    def parse(text: str) -> tuple[str, str]:
        """Split what a user typed into ``(booking_id, mac)``, or raise InvalidInput("code.format").

        Case, spaces and hyphens do not matter, and O, I and L are read as 0, 1 and 1.
        """
        compact = _SEPARATORS.sub("", text)
        # Checked before upper(), which would turn some non-ASCII letters into ASCII ones ("ß" ->
        # "SS"), letting garbage pass as a well-formed code.
        if not compact.isascii():
            raise InvalidInput("code.format")
        compact = compact.upper().translate(_ALIASES)
        if not _is_code_text(compact, CODE_LENGTH):
            raise InvalidInput("code.format")
        return compact[:ID_LENGTH], compact[ID_LENGTH:]

    def verify(self, text: str, office_id: str, nik_hash: str) -> bool:
        """Whether ``text`` is the code of this booking at this office for this NIK."""
        try:
            booking_id, mac = self.parse(text)
        except InvalidInput:
            return False
        expected = self._mac(office_id, booking_id, nik_hash)
        return hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii"))

    @staticmethod
    def booking_id_of(text: str) -> str:
        """The booking id inside a code the user typed (not verified: call ``verify`` for that)."""
        return BookingCodes.parse(text)[0]

    def _mac(self, office_id: str, booking_id: str, nik_hash: str) -> str:
        if not _is_code_text(booking_id, ID_LENGTH):
            raise ValueError("booking_id must be 6 Crockford base32 characters from new_id().")
        # NUL separates the fields, so a field containing one could make two different bookings
        # sign the same message.
        if "\x00" in office_id or "\x00" in nik_hash:
            raise ValueError("office_id and nik_hash must not contain NUL characters.")
        message = b"\x00".join(part.encode("utf-8") for part in (office_id, booking_id, nik_hash))
        digest = hmac.new(self._secret, _DOMAIN + message, hashlib.sha256).digest()
        bits = int.from_bytes(digest[:4], "big") >> (32 - _MAC_BITS)
        return "".join(
            ALPHABET[(bits >> shift) & 0b11111]
            for shift in range(_MAC_BITS - _BITS_PER_CHAR, -1, -_BITS_PER_CHAR)
        )


QR_MASK = 0


def qr_filename(code: str) -> str:
    """The file name of a booking's QR image: the whole code, so that two bookings' images never
    share a name (the 6-character booking id alone can be drawn again once a booking is gone)."""
    return f"antrean-{code}.png"


def qr_png(text: str, scale: int = 8) -> bytes:
    """PNG bytes of a QR code of ``text``, for the staff's scanner at the counter."""
    if scale < 1:
        raise ValueError("scale must be at least 1 pixel per module.")
    # A full QR code (never Micro QR, which many phone scanners cannot read) at level M, which
    # survives a scratched or glare-covered screen; boost_error=False keeps the level fixed.
    # A fixed mask: every mask is valid, and segno's search for the best one was a third of the
    # CPU of a whole booking conversation (bench/dialog.py). Codes are short, so readability
    # does not suffer.
    qr = segno.make_qr(text, error="m", boost_error=False, mask=QR_MASK)
    # A 4-module quiet zone, the minimum the QR standard asks for around the symbol.
    return _bilevel_png(qr.matrix, scale, border=4)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bilevel_png(matrix: Sequence[bytes | bytearray], scale: int, border: int) -> bytes:
    """A 1-bit greyscale PNG of a matrix of modules (1 = dark) inside a light border, each module
    ``scale`` pixels square. segno's own PNG writer builds every pixel in Python, for any
    colours; black on white at one bit a pixel is a byte translation a row."""
    size = len(matrix) + 2 * border
    width = size * scale
    padding = -width % 8  # each scanline fills whole bytes
    light_row = _scanline(b"\x00" * size, scale, padding)
    lines = [light_row] * (border * scale)
    edge = b"\x00" * border
    for row in matrix:
        lines.extend([_scanline(edge + bytes(row) + edge, scale, padding)] * scale)
    lines.extend([light_row] * (border * scale))
    header = struct.pack(">IIBBBBB", width, len(lines), 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            # Level 6: level 9 took eight times as long (0.6 ms a code) for no smaller file.
            _chunk(b"IDAT", zlib.compress(b"".join(lines), 6)),
            _chunk(b"IEND", b""),
        )
    )


# One module (0 light, 1 dark) as the characters of its pixel bits (1 white, 0 black).
_MODULE_BITS = bytes.maketrans(b"\x00\x01", b"10")


# At 8 pixels a module, a module is one byte of the scanline: 0xff light, 0x00 dark.
_MODULE_BYTES = bytes.maketrans(b"\x00\x01", b"\xff\x00")


def _scanline(modules: bytes, scale: int, padding: int) -> bytes:
    if scale % 8 == 0:
        row = modules.translate(_MODULE_BYTES)
        if scale > 8:
            row = bytes(byte for byte in row for _ in range(scale // 8))
        return b"\x00" + row  # filter type 0: none; no padding, whole bytes already
    bits = modules.translate(_MODULE_BITS).decode()
    if scale > 1:
        bits = "".join(bit * scale for bit in bits)
    bits += "0" * padding
    return b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter type 0: none
