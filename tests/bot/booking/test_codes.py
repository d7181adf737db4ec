"""Booking codes and their QR image."""

from __future__ import annotations

import struct
import zlib

import pytest
import segno

from bot.booking.codes import ALPHABET, BookingCodes, qr_png
from bot.errors import InvalidInput

SECRET = b"k" * 32
OFFICE = "dukcapil-jaksel"
NIK_HASH = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def codes() -> BookingCodes:
    return BookingCodes(SECRET)


def test_round_trip(codes: BookingCodes) -> None:
    booking_id = codes.new_id()
    code = codes.code(OFFICE, booking_id, NIK_HASH)
    assert len(code) == 14
    assert code[4] == code[9] == "-"
    assert all(char in ALPHABET for char in code.replace("-", ""))
    assert code.startswith(booking_id[:4])
    assert codes.parse(code)[0] == booking_id
    assert codes.booking_id_of(code) == booking_id
    assert codes.verify(code, OFFICE, NIK_HASH)


def test_code_is_deterministic(codes: BookingCodes) -> None:
    assert codes.code(OFFICE, "ABC123", NIK_HASH) == BookingCodes(SECRET).code(
        OFFICE, "ABC123", NIK_HASH
    )


def test_every_changed_character_fails(codes: BookingCodes) -> None:
    compact = codes.code(OFFICE, "7K3M9Q", NIK_HASH).replace("-", "")
    for position, original in enumerate(compact):
        replacement = ALPHABET[(ALPHABET.index(original) + 1) % len(ALPHABET)]
        tampered = compact[:position] + replacement + compact[position + 1 :]
        assert not codes.verify(tampered, OFFICE, NIK_HASH), position


def test_code_is_bound_to_office_person_and_secret(codes: BookingCodes) -> None:
    code = codes.code(OFFICE, "7K3M9Q", NIK_HASH)
    assert not codes.verify(code, "dukcapil-jakut", NIK_HASH)
    assert not codes.verify(code, OFFICE, "f" * 32)
    assert not BookingCodes(b"j" * 32).verify(code, OFFICE, NIK_HASH)


def test_fields_cannot_be_shifted_across_the_separator(codes: BookingCodes) -> None:
    with pytest.raises(ValueError):
        codes.code("office\x00x", "7K3M9Q", NIK_HASH)
    with pytest.raises(ValueError):
        codes.code(OFFICE, "7k3m9q", NIK_HASH)


def test_user_typing_is_accepted(codes: BookingCodes) -> None:
    code = codes.code(OFFICE, "10K0M1", NIK_HASH)
    compact = code.replace("-", "")
    variants = [
        code.lower(),
        compact,
        " ".join([compact[:4], compact[4:8], compact[8:]]),
        f"  {code}\n",
        compact.replace("0", "O").replace("1", "I"),
        compact.replace("0", "o").replace("1", "l"),
        compact.replace("1", "L"),
        code.replace("-", "\u2013"),  # a keyboard's en dash
    ]
    for typed in variants:
        assert codes.parse(typed) == (compact[:6], compact[6:]), typed
        assert codes.verify(typed, OFFICE, NIK_HASH), typed


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ABCD-EFGH-JKM",  # 11 characters
        "ABCD-EFGH-JKMNP",  # 13 characters
        "ABCD-EFGH-JKMU",  # U is not in the alphabet
        "ABCD/EFGH/JKMN",
        "ABCD-EFGH-JKM!",
        "ABCD-EFGH-JKMß",  # upper() would make it "SS"
        # full-width letters
        "\uff21\uff22\uff23\uff24-\uff25\uff26\uff27\uff28-\uff2a\uff2b\uff2d\uff2e",
        "hello, I want to book",
    ],
)
def test_garbage_is_a_format_error(codes: BookingCodes, typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        BookingCodes.parse(typed)
    assert caught.value.key == "code.format"
    with pytest.raises(InvalidInput):
        BookingCodes.booking_id_of(typed)
    assert not codes.verify(typed, OFFICE, NIK_HASH)


def test_new_ids_are_random_and_from_the_alphabet(codes: BookingCodes) -> None:
    ids = [codes.new_id() for _ in range(10_000)]
    assert all(len(booking_id) == 6 for booking_id in ids)
    assert set("".join(ids)) <= set(ALPHABET)
    # 30 bits: about 0.05 collisions expected among 10,000 draws.
    assert len(set(ids)) >= 9_990
    # Every character of the alphabet shows up (60,000 draws of 32 symbols).
    assert set("".join(ids)) == set(ALPHABET)


@pytest.mark.parametrize("secret", [b"", b"x" * 15])
def test_short_secret_is_refused(secret: bytes) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        BookingCodes(secret)


# --- QR -------------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png_greyscale(data: bytes) -> list[list[int]]:
    """Decode a non-interlaced 1/8-bit greyscale PNG into rows of 0 (black) / 1 (white) pixels."""
    assert data.startswith(PNG_SIGNATURE)
    offset = len(PNG_SIGNATURE)
    header = b""
    idat = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert colour == 0 and interlace == 0 and depth in (1, 8)
    raw = zlib.decompress(idat)
    stride = (width * depth + 7) // 8
    pixel_bytes = max(1, depth // 8)
    rows: list[list[int]] = []
    previous = bytearray(stride)
    position = 0
    for _ in range(height):
        filter_type = raw[position]
        line = bytearray(raw[position + 1 : position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - pixel_bytes] if i >= pixel_bytes else 0
            up = previous[i]
            up_left = previous[i - pixel_bytes] if i >= pixel_bytes else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                estimate = left + up - up_left
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
                predictor = (left, up, up_left)[distances.index(min(distances))]
                line[i] = (line[i] + predictor) & 0xFF
        previous = line
        if depth == 1:
            rows.append([(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        else:
            rows.append([1 if line[x] >= 128 else 0 for x in range(width)])
    return rows


def modules_of(png: bytes, scale: int, border: int) -> list[list[bool]]:
    """The QR modules (True = dark) sampled from the centre of each scale x scale cell."""
    pixels = read_png_greyscale(png)
    size = len(pixels) // scale - 2 * border
    assert len(pixels) == len(pixels[0]) == (size + 2 * border) * scale
    for y in range(border * scale):  # the quiet zone is white all round
        assert all(pixels[y]) and all(pixels[-1 - y])
    return [
        [pixels[(border + row) * scale + scale // 2][(border + col) * scale + scale // 2] == 0
         for col in range(size)]
        for row in range(size)
    ]  # fmt: skip


def error_level(modules: list[list[bool]]) -> str:
    """Read the error correction level from the format information next to the top-left finder."""
    coordinates = [(8, col) for col in (0, 1, 2, 3, 4, 5, 7, 8)] + [
        (row, 8) for row in (7, 5, 4, 3, 2, 1, 0)
    ]
    bits = 0
    for row, col in coordinates:
        bits = (bits << 1) | modules[row][col]
    bits ^= 0b101010000010010  # the mask the standard applies to the format bits
    return {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}[bits >> 13]


def test_qr_png_is_the_qr_code_of_the_text() -> None:
    text = "7K3M-9QAB-CDEF"
    png = qr_png(text, scale=8)
    assert png.startswith(PNG_SIGNATURE)
    modules = modules_of(png, scale=8, border=4)
    assert len(modules) == 21  # version 1: a full QR code, not Micro QR
    assert error_level(modules) == "M"
    expected = segno.make_qr(text, error="m", boost_error=False)
    assert modules == [[bool(module) for module in row] for row in expected.matrix]


def test_qr_png_scale() -> None:
    assert len(read_png_greyscale(qr_png("X", scale=1))) == 21 + 8
    assert len(read_png_greyscale(qr_png("X", scale=3))) == (21 + 8) * 3
    # Whole bytes a module (scale 8, 16) and bits (scale 3) draw the same modules.
    drawn = [modules_of(qr_png("X", scale=s), scale=s, border=4) for s in (3, 8, 16)]
    assert drawn[0] == drawn[1] == drawn[2]
    with pytest.raises(ValueError):
        qr_png("X", scale=0)


def test_qr_png_holds_longer_text() -> None:
    text = "https://antrean.example/b/7K3M9QABCDEF"
    modules = modules_of(qr_png(text, scale=2), scale=2, border=4)
    assert error_level(modules) == "M"
    assert len(modules) > 21


def test_derived_ids_are_stable_per_message_and_unpredictable() -> None:
    codes = BookingCodes(b"k" * 32)
    first = codes.id_for("telegram:1", "u100")
    assert first == codes.id_for("telegram:1", "u100")  # the same message, handled again
    assert first != codes.id_for("telegram:1", "u101")
    assert first != BookingCodes(b"j" * 32).id_for("telegram:1", "u100")
    assert len(first) == 6 and set(first) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    # A derived id is a booking id like any other: it signs and verifies.
    code = codes.code("office", first, "h" * 32)
    assert codes.verify(code, "office", "h" * 32)
