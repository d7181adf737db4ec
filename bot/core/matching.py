"""Matching what a user typed against the options on offer, forgivingly.

People type what they see, the way their keyboard makes it: ``10:00-12:00`` with a hyphen where
the option has an en dash, ``ya`` for "Ya, pesan", ``1.``, ``2 des``, ``Rabu``, ``jam 10``,
``10.00``. :func:`match` accepts, in this order:

1. a number (ASCII digits only) of an option, alone or as ``1.``, ``1)``, ``(1)``, ``#1``;
2. an option's title, with case, dash variants and trailing punctuation ignored;
3. yes and no words in Indonesian and English, for options whose id is ``yes`` / ``no``;
4. days (options whose id is an ISO date): a weekday name (the soonest such day), a date as
   ``2 des``, ``2 Desember``, ``Dec 2``, ``2/12``, ``2-12-2030``, ``2030-12-02``, ``tgl 2``,
   ``besok`` / ``tomorrow`` or ``lusa``;
5. times (options whose id is ``HHMM-HHMM``): ``10``, ``jam 10``, ``10.00``, ``10:00-12:00``,
   ``pukul 1 siang``, ``1 pm``;
6. the start of one title and of no other (``paspor b`` for "Paspor baru").

Anything else, or what fits several options, is not a match: the engine then says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from bot.core.clock import parse_day
from bot.core.text import clean

# (option id, title), as kept in the session.
Offered = Sequence[tuple[str, str]]

# Hyphen, non-breaking hyphen, figure dash, en dash, em dash, minus sign, small/full-width forms.
_DASHES = re.compile(r"\s*[\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d]\s*")
_TRAILING = ".,!?;: "
_NUMBER = re.compile(r"^(?:#|nomor\s*|no\.\s*)?\(?([0-9]{1,3})[.)]?$")

YES_WORDS = frozenset(
    [
        "ya",
        "iya",
        "iyaa",
        "y",
        "yes",
        "yep",
        "yup",
        "yeah",
        "ok",
        "oke",
        "okay",
        "okey",
        "sip",
        "setuju",
        "benar",
        "betul",
        "boleh",
        "lanjut",
        "konfirmasi",
        "confirm",
        "sure",
    ]
)
NO_WORDS = frozenset(
    [
        "tidak",
        "tdk",
        "gak",
        "ga",
        "nggak",
        "ngga",
        "enggak",
        "engga",
        "g",
        "n",
        "no",
        "nope",
        "jangan",
    ]
)

_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "senin sen monday mon",
        "selasa sel tuesday tue tues",
        "rabu rab wednesday wed",
        "kamis kam thursday thu thur thurs",
        "jumat jum'at jum friday fri",
        "sabtu sab saturday sat",
        "minggu ahad min sunday sun",
    )
):
    _WEEKDAYS.update(dict.fromkeys(_names.split(), _number))

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "januari january jan",
        "februari pebruari february feb peb",
        "maret march mar",
        "april apr",
        "mei may",
        "juni june jun",
        "juli july jul",
        "agustus august agu agt ags aug",
        "september sep sept",
        "oktober october okt oct",
        "november nopember nov nop",
        "desember december des dec",
    ),
    1,
):
    _MONTHS.update(dict.fromkeys(_names.split(), _number))

_RELATIVE_DAYS = {
    "hari ini": 0,
    "today": 0,
    "besok": 1,
    "tomorrow": 1,
    "lusa": 2,
    "day after tomorrow": 2,
}
# Words that add nothing to a date or a time.
_DAY_FILLER = frozenset(["hari", "tanggal", "tgl", "tg", "date", "day", "on", "the", "of", "pada"])
_NUMERIC_DATE = re.compile(r"^([0-9]{1,2})[/.\-]([0-9]{1,2})(?:[/.\-]([0-9]{4}|[0-9]{2}))?$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_WINDOW_ID = re.compile(r"^([0-9]{2})([0-9]{2})-([0-9]{2})([0-9]{2})$")
_TIME = re.compile(
    r"^(?:jam|pukul|pkl\.?|at|from|dari)?\s*"
    r"(?P<h>[0-9]{1,2})(?:[:.](?P<m>[0-9]{2}))?\s*(?P<m1>pagi|siang|sore|malam|am|pm)?"
    r"(?:\s*(?:-|s/d|sd|sampai|hingga|to|until)\s*(?P<eh>[0-9]{1,2})(?:[:.](?P<em>[0-9]{2}))?)?"
    r"\s*(?:wib|wita|wit)?\s*(?P<m2>pagi|siang|sore|malam|am|pm)?$"
)
_DIGITS = re.compile("[0-9]+")
_WORD = re.compile(r"[\w'-]+")
_AFTERNOON = frozenset({"siang", "sore", "malam", "pm"})


@dataclass(frozen=True, slots=True)
class Match:
    """The option id typed text stands for, or None; ``candidates`` when it fits several."""

    option: str | None
    candidates: tuple[str, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return bool(self.candidates)


def key(text: str) -> str:
    """Text reduced for comparison: cleaned, case-folded, every dash a plain ``-`` without spaces
    around it, trailing sentence punctuation dropped."""
    return _DASHES.sub("-", clean(text).casefold()).rstrip(_TRAILING)


def option_number(text: str) -> int | None:
    """The option number in ``1``, ``1.``, ``1)``, ``(1)`` or ``#1``: ASCII digits only, as
    other scripts' digits pass ``str.isdigit()`` but not ``int()``."""
    found = _NUMBER.match(clean(text).casefold().strip())
    return int(found[1]) if found else None


def match(offered: Offered, text: str, today: date | None = None) -> Match:
    """Which of ``offered`` the typed ``text`` means (see the module docstring). ``today``, the
    office's, gives "besok" (tomorrow) and "lusa" (the day after) their meaning."""
    if not offered:
        return Match(None)
    number = option_number(text)
    if number is not None and 1 <= number <= len(offered):
        return Match(offered[number - 1][0])
    wanted = key(text)
    if not wanted:
        return Match(None)
    for oid, title in offered:
        if wanted in (key(title), oid):
            return Match(oid)
    for found in (_yes_no(offered, wanted), _day(offered, wanted, today), _time(offered, wanted)):
        if found is not None:
            return found
    return _prefix(offered, wanted)


def _one(ids: list[str]) -> Match | None:
    if not ids:
        return None
    return Match(ids[0]) if len(ids) == 1 else Match(None, tuple(ids))


def _yes_no(offered: Offered, wanted: str) -> Match | None:
    ids = {oid for oid, _ in offered}
    if not {"yes", "no"} <= ids:
        return None
    first = re.split(r"[\s,]+", wanted, maxsplit=1)[0]
    if first in YES_WORDS:
        return Match("yes")
    if first in NO_WORDS:
        return Match("no")
    return None


def _option_day(oid: str) -> date | None:
    iso = oid.rpartition(":")[2]
    if not _ISO_DATE.match(iso):
        return None
    return parse_day(iso)


def _day(offered: Offered, wanted: str, today: date | None) -> Match | None:
    days = [(oid, day) for oid, _ in offered if (day := _option_day(oid)) is not None]
    if not days:
        return None
    if wanted in _RELATIVE_DAYS:
        if today is None:
            return None
        target = today + timedelta(days=_RELATIVE_DAYS[wanted])
        return _one([oid for oid, day in days if day == target])
    if _ISO_DATE.match(wanted):
        return _one([oid for oid, day in days if day.isoformat() == wanted])
    weekday = month = year = day_of_month = None
    numeric = _NUMERIC_DATE.match(wanted)
    if numeric:
        day_of_month, month = int(numeric[1]), int(numeric[2])
        if numeric[3]:
            year = int(numeric[3]) % 100 if len(numeric[3]) == 2 else int(numeric[3])
    else:
        for word in re.split(r"[\s,.]+", wanted):
            if word in _DAY_FILLER:
                continue
            if word in _WEEKDAYS and weekday is None:
                weekday = _WEEKDAYS[word]
            elif word in _MONTHS and month is None:
                month = _MONTHS[word]
            elif _DIGITS.fullmatch(word) and len(word) == 4 and year is None:
                year = int(word)
            elif _DIGITS.fullmatch(word) and len(word) <= 2 and day_of_month is None:
                day_of_month = int(word)
            else:
                return None
    if weekday is None and day_of_month is None:
        return None
    fitting = [
        oid
        for oid, day in days
        if (weekday is None or day.weekday() == weekday)
        and (day_of_month is None or day.day == day_of_month)
        and (month is None or day.month == month)
        and (year is None or year in (day.year, day.year % 100))
    ]
    if weekday is not None and day_of_month is None and month is None:
        # "Rabu" is the coming Wednesday: the options are soonest first.
        return Match(fitting[0]) if fitting else None
    return _one(fitting)


def _time(offered: Offered, wanted: str) -> Match | None:
    windows = []
    for oid, _ in offered:
        found = _WINDOW_ID.match(oid)
        if found:
            start = (int(found[1]), int(found[2]))
            windows.append((oid, start, (int(found[3]), int(found[4]))))
    typed = _TIME.match(wanted)
    if not windows or typed is None:
        return None
    hour, minute = int(typed["h"]), int(typed["m"] or 0)
    end = (int(typed["eh"]), int(typed["em"] or 0)) if typed["eh"] else None
    if {typed["m1"], typed["m2"]} & _AFTERNOON and hour < 12:
        hour += 12
    # "jam 1" is 13:00 when no window starts at 01:00.
    for start_hour in (hour, hour + 12) if hour < 12 else (hour,):
        fitting = [
            oid
            for oid, start, stop in windows
            if start == (start_hour, minute)
            and (end is None or stop in (end, (end[0] + 12, end[1])))
        ]
        if fitting:
            return _one(fitting)
    return None


def _prefix(offered: Offered, wanted: str) -> Match:
    if len(wanted) < 2:
        return Match(None)
    ids = [oid for oid, title in offered if key(title).startswith(wanted)]
    if not ids:
        # Word by word: "ya pesan" for "Ya, pesan", "paspor hilang rusak" for "Paspor hilang /
        # rusak".
        words = _WORD.findall(wanted)
        ids = [oid for oid, title in offered if _WORD.findall(key(title))[: len(words)] == words]
    return _one(ids) or Match(None)
