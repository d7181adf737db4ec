"""User text hygiene."""

from __future__ import annotations

import pytest

from bot.core.text import MAX_TEXT, clean, fold, is_blank, validate_name
from bot.errors import InvalidInput


def name_error(raw: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_name(raw)
    return caught.value


# --- clean / is_blank -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  halo  ", "halo"),
        ("satu\ndua\r\ntiga\tempat", "satu dua tiga empat"),
        ("a\x00b\x07c\x1bd", "abcd"),  # NUL, BEL, ESC dropped
        ("a\x85b", "a b"),  # NEL is a line break
        ("ze\u200bro\u200cwi\u200ddth", "zerowidth"),
        ("\ufeffbom", "bom"),
        ("\u202ekiri\u202c \u200ekanan\u200f", "kiri kanan"),  # bidi overrides and marks
        ("se\u00adlamat", "selamat"),  # soft hyphen
        ("\uff21\uff22\uff23\uff11\uff12\uff13", "ABC123"),  # full-width
        ("ﬁle", "file"),  # ligature
        ("a\u00a0\u2003  b", "a b"),  # no-break and em spaces
        ("bad\ud800surrogate", "badsurrogate"),
        ("🙂", "🙂"),
        ("", ""),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_clean_composes_combining_marks() -> None:
    assert clean("Jose\u0301") == "Jos\u00e9"


def test_exactly_max_text_is_accepted() -> None:
    assert clean("a" * MAX_TEXT) == "a" * MAX_TEXT
    assert MAX_TEXT == 4096


def test_longer_than_max_text_is_rejected_before_any_work() -> None:
    with pytest.raises(InvalidInput) as caught:
        clean("a" * (MAX_TEXT + 1))
    assert caught.value.key == "input.too_long"
    assert caught.value.params == {"limit": MAX_TEXT}
    # Length is checked on what arrived, even if cleaning would have shrunk it.
    with pytest.raises(InvalidInput):
        clean("\u200b" * (MAX_TEXT + 1))


@pytest.mark.parametrize("raw", ["", "   ", "\u200b\u200c\u200d", "\ufeff\n\t", "\x00\x1b"])
def test_invisible_text_is_blank(raw: str) -> None:
    assert is_blank(raw)


@pytest.mark.parametrize("raw", ["🙂", "a", " . ", "\u200bx"])
def test_visible_text_is_not_blank(raw: str) -> None:
    assert not is_blank(raw)


# --- fold -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "Perpanjangan KTP",
        "perpanjangan ktp",
        "PERPANJANGAN  KTP.",
        " Perpanjangan\nKTP!! ",
        "\uff2b\uff34\uff30",
    ],
)
def test_fold_matches_typed_titles(typed: str) -> None:
    expected = "ktp" if typed == "\uff2b\uff34\uff30" else "perpanjangan ktp"
    assert fold(typed) == expected


def test_fold_keeps_inner_punctuation() -> None:
    assert fold("Akta kelahiran (baru)") == "akta kelahiran (baru)"
    assert fold("Ya?") == fold("ya") == "ya"
    assert fold("Straße") == fold("STRASSE")


# --- validate_name --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Siti Nur'aini", "Siti Nur'aini"),
        ("R. A. Kartini", "R. A. Kartini"),
        ("I Gusti Ngurah Rai", "I Gusti Ngurah Rai"),
        ("Budi", "Budi"),
        ("  Budi   Santoso ", "Budi Santoso"),
        ("Siti Nur\u2019aini", "Siti Nur'aini"),  # a phone's curly apostrophe
        ("Anak Agung Istri Ayu-Dewi", "Anak Agung Istri Ayu-Dewi"),
        ("José Ramos-Horta", "José Ramos-Horta"),
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        ("Jose\u0301", "José"),
        ("عبد الله", "عبد الله"),
        ("Bu", "Bu"),
    ],
)
def test_valid_names(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("budi santoso", "Budi Santoso"),
        ("BUDI", "Budi"),
        ("BUDI SANTOSO", "Budi Santoso"),
        ("siti nur'aini", "Siti Nur'aini"),
        ("SITI NUR'AINI", "Siti Nur'aini"),
        ("r.a. kartini", "R.A. Kartini"),
        ("ayu-dewi lestari", "Ayu-Dewi Lestari"),
        ("NGUYỄN VĂN AN", "Nguyễn Văn An"),
    ],
)
def test_single_case_names_are_capitalised(raw: str, expected: str) -> None:
    assert validate_name(raw) == expected


@pytest.mark.parametrize(
    "raw", ["McDonald", "de Souza", "Siti binti Ahmad", "van der Berg", "eKTP"]
)
def test_mixed_case_names_keep_the_users_casing(raw: str) -> None:
    assert validate_name(raw) == raw


@pytest.mark.parametrize("raw", ["", "   ", "\u200b\u200d", "\n"])
def test_empty_name(raw: str) -> None:
    assert name_error(raw).key == "name.empty"


def test_name_length_limit() -> None:
    assert validate_name("a" * 100) == "A" + "a" * 99
    error = name_error("a" * 101)
    assert error.key == "name.too_long"
    assert error.params == {"limit": 100}
    # Counted after cleaning: surrounding spaces and zero-width characters do not count.
    assert validate_name(" \u200b" + "B" * 50 + " " + "c" * 49 + " ") == "B" * 50 + " " + "c" * 49


@pytest.mark.parametrize(
    ("raw", "key", "chars"),
    [
        ("🙂", "name.characters", "“🙂”"),
        ("🙂🙂🙂", "name.characters", "“🙂”"),
        ("Budi 🙂", "name.characters", "“🙂”"),
        ("Budi2", "name.characters", "“2”"),
        ("12345", "name.characters", "“1”, “2”, “3”, “4”, “5”"),
        ("1234567", "name.characters", "“1”, “2”, “3”, “4”, “5”"),
        ("Budi Santoso, S.Kom", "name.characters", "“,”"),
        ("budi@example.com", "name.address", None),
        ("https://example.com", "name.address", None),
        ("www.budisantoso", "name.address", None),
        ("budisantoso.com", "name.address", None),
        ("budi.santoso.id", "name.address", None),
        ("B", "name.letters", None),
        ("B.", "name.letters", None),
        ("- . '", "name.letters", None),
        ("Budi_Santoso", "name.characters", "“_”"),
        ("Budi (Santoso)", "name.characters", "“(”, “)”"),
        ("Budi/Santoso", "name.characters", "“/”"),
    ],
)
def test_names_without_enough_letters_or_with_other_characters_say_which(
    raw: str, key: str, chars: str | None
) -> None:
    error = name_error(raw)
    assert error.key == key
    assert error.params.get("chars") == chars


def test_too_long_text_is_reported_as_such() -> None:
    assert name_error("a" * (MAX_TEXT + 1)).key == "input.too_long"
