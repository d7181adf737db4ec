"""The forgiving matcher, as a table: what people type against the option lists the demo office
really offers (its services, days, windows and the catalog's yes/no titles)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.booking.app import LOCALE_DIR
from bot.booking.office import load_office
from bot.core.i18n import Catalog
from bot.core.matching import Match, Offered, match, option_number

OFFICE = load_office(None)
CATALOG = Catalog.load(LOCALE_DIR)
# A Monday morning in Jakarta: the bookable days run from Tue 26 Nov to Mon 9 Dec 2030.
NOW = datetime(2030, 11, 25, 1, 0, tzinfo=UTC)


def services(locale: str = "id") -> Offered:
    return [(s.id, s.name(locale)) for s in OFFICE.services]


def days(locale: str = "id") -> Offered:
    return [(d.isoformat(), CATALOG.format_day(locale, d)) for d in OFFICE.bookable_days(NOW)]


def windows(day: date) -> Offered:
    return [(w.id, w.label) for w in OFFICE.windows(day)]


def confirm(locale: str = "id") -> Offered:
    return [("yes", CATALOG.t(locale, "book.yes")), ("no", CATALOG.t(locale, "book.no"))]


def yes_no(locale: str = "id") -> Offered:
    return [("yes", CATALOG.t(locale, "common.yes")), ("no", CATALOG.t(locale, "common.no"))]


TODAY = OFFICE.local_today(NOW)
MONDAY = date(2030, 12, 2)
FRIDAY = date(2030, 11, 29)


TABLE: list[tuple[str, Offered, str, str | Match | None]] = [
    # Numbers: ASCII digits, alone or with the punctuation of a numbered list.
    ("number", services(), "1", "paspor-baru"),
    ("number with dot", services(), "2.", "penggantian-paspor"),
    ("number with paren", services(), "3)", "paspor-hilang-rusak"),
    ("number in parens", services(), "(1)", "paspor-baru"),
    ("number with hash", services(), "#2", "penggantian-paspor"),
    ("number with spaces", services(), "  3  ", "paspor-hilang-rusak"),
    ("number out of range", services(), "4", None),
    ("zero", services(), "0", None),
    ("kharoshthi digit one", services(), "\U00010a40", None),
    ("superscript two", services(), "\u00b2", "penggantian-paspor"),  # NFKC makes it "2"
    ("arabic-indic one", services(), "\u0661", None),
    # Titles: case, dashes and trailing punctuation do not matter; an unambiguous start will do.
    ("title", services(), "Paspor baru", "paspor-baru"),
    ("title, lower case, with !", services(), "paspor baru!", "paspor-baru"),
    ("title start", services(), "penggantian", "penggantian-paspor"),
    ("title start, two words", services(), "paspor hilang", "paspor-hilang-rusak"),
    ("title words without the slash", services(), "paspor hilang rusak", "paspor-hilang-rusak"),
    ("ambiguous start", services(), "paspor", Match(None, ("paspor-baru", "paspor-hilang-rusak"))),
    ("one letter is no start", services(), "p", None),
    ("english title", services("en"), "new passport", "paspor-baru"),
    ("english start", services("en"), "lost", "paspor-hilang-rusak"),
    ("unrelated", services(), "halo", None),
    # Times: any dash, dots or colons, "jam", "pukul", with or without the end.
    ("window with hyphen", windows(MONDAY), "10:00-12:00", "1000-1200"),
    ("window with spaced hyphen", windows(MONDAY), "10:00 - 12:00", "1000-1200"),
    ("window with em dash", windows(MONDAY), "10:00\u201412:00", "1000-1200"),
    ("window with minus sign", windows(MONDAY), "08:00\u221210:00", "0800-1000"),
    ("window with en dash", windows(MONDAY), "13:00\u201315:00", "1300-1500"),
    ("window with dots", windows(MONDAY), "10.00-12.00", "1000-1200"),
    ("window with s/d", windows(MONDAY), "10.00 s/d 12.00", "1000-1200"),
    ("start with dot", windows(MONDAY), "10.00", "1000-1200"),
    ("start with colon", windows(MONDAY), "08:00", "0800-1000"),
    ("jam", windows(MONDAY), "jam 10", "1000-1200"),
    ("pukul with WIB", windows(MONDAY), "pukul 08.00 WIB", "0800-1000"),
    ("bare hour past the numbers", windows(MONDAY), "10", "1000-1200"),
    ("afternoon hour", windows(MONDAY), "jam 1", "1300-1500"),
    ("jam 1 siang", windows(MONDAY), "jam 1 siang", "1300-1500"),
    ("1 pm", windows(MONDAY), "1 pm", "1300-1500"),
    ("13", windows(MONDAY), "13", "1300-1500"),
    ("friday's short window", windows(FRIDAY), "10:00-11:30", "1000-1130"),
    ("friday's afternoon", windows(FRIDAY), "13.30", "1330-1500"),
    ("wrong end", windows(MONDAY), "10:00-11:00", None),
    ("no such time", windows(MONDAY), "jam 9", None),
    ("time on a friday that is monday's", windows(FRIDAY), "13:00", None),
    # Days: weekday names, dates with month names or numbers, in both languages.
    ("weekday", days(), "Rabu", "2030-11-27"),
    ("weekday, soonest of two", days(), "senin", "2030-12-02"),
    ("weekday abbreviated", days(), "jum", "2030-11-29"),
    ("weekday with apostrophe", days(), "Jum'at", "2030-11-29"),
    ("english weekday", days(), "Wednesday", "2030-11-27"),
    ("english weekday abbreviated", days("en"), "tue", "2030-11-26"),
    ("day and short month", days(), "2 des", "2030-12-02"),
    ("day and month", days(), "2 Desember", "2030-12-02"),
    ("english month first", days(), "Dec 3", "2030-12-03"),
    ("english month", days("en"), "3 december", "2030-12-03"),
    ("slash date", days(), "2/12", "2030-12-02"),
    ("slash date with year", days(), "2/12/2030", "2030-12-02"),
    ("dash date", days(), "2-12-30", "2030-12-02"),
    ("iso date", days(), "2030-12-04", "2030-12-04"),
    ("tanggal", days(), "tgl 28", "2030-11-28"),
    ("bare day of month past the numbers", days(), "28", "2030-11-28"),
    ("weekday and date", days(), "Rabu, 4 Des 2030", "2030-12-04"),
    ("weekday and date that disagree", days(), "Selasa 4 des", None),
    ("the title", days(), "sen, 2 des 2030", "2030-12-02"),
    ("a closed day", days(), "30 nov", None),
    ("a day not offered", days(), "25 des", None),
    ("a weekend day", days(), "sabtu", None),
    ("besok", days(), "besok", "2030-11-26"),
    ("lusa", days(), "Lusa", "2030-11-27"),
    ("tomorrow", days("en"), "tomorrow", "2030-11-26"),
    ("today is not bookable", days(), "hari ini", None),
    (
        "pre-queue day",
        [("pre:2030-12-10", "Sel, 10 Des 2030"), *days()],
        "10 des",
        "pre:2030-12-10",
    ),
    # Yes and no, in both languages, on both kinds of yes/no question.
    ("ya", confirm(), "ya", "yes"),
    ("Ya!", confirm(), "Ya!", "yes"),
    ("iya", confirm(), "iya", "yes"),
    ("ok", confirm(), "OK", "yes"),
    ("yes on id", confirm(), "yes", "yes"),
    ("ya pesan", confirm(), "ya pesan", "yes"),
    ("tidak", confirm(), "tidak", "no"),
    ("gak", confirm(), "gak", "no"),
    ("no on id", confirm(), "no", "no"),
    ("english yes", confirm("en"), "yes", "yes"),
    ("english ya", confirm("en"), "ya", "yes"),
    ("english no", confirm("en"), "No, cancel", "no"),
    ("plain yes/no", yes_no(), "y", "yes"),
    ("plain yes/no, n", yes_no(), "n", "no"),
    ("not a yes", confirm(), "mungkin", None),
]


@pytest.mark.parametrize(
    ("offered", "typed", "expected"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_typed_answers(offered: Offered, typed: str, expected: str | Match | None) -> None:
    wanted = expected if isinstance(expected, Match) else Match(expected)
    assert match(offered, typed, TODAY) == wanted


@pytest.mark.parametrize("typed", ["\U00010a40", "\u0661", "\u0e51", "1\U00010a40", "\U00010a40."])
def test_only_ascii_digits_are_option_numbers(typed: str) -> None:
    assert typed.strip(".").isdigit()
    assert option_number(typed) is None
