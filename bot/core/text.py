"""Hygiene for text users type: normalise it before matching, storing or showing it to staff.

Chat apps deliver whatever the keyboard produced: full-width letters, zero-width joiners, bidi
marks that reorder what staff see, stray control characters, and sometimes megabytes of text.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import InvalidInput

# Telegram's own limit for a message; nothing a step asks for comes close.
MAX_TEXT = 4096
MAX_NAME = 100
# How many of the characters a name may not contain a refusal names.
MAX_SHOWN = 5

# Sentence punctuation a user may add after an option's title ("Ya!", "Perpanjangan KTP.").
_TRAILING_PUNCTUATION = ".,!?;: "
# Typographic apostrophes that phone keyboards substitute for ' (iOS "smart punctuation").
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_NAME_PUNCTUATION = frozenset(" .'-")
_WORD_START = re.compile(r"(^|[ .\-])(\w)")
# Bare domains ("budi.com", "www.budi.id") pass the character rule, so they are caught by shape.
_DOMAIN_ENDINGS = frozenset(
    {"com", "net", "org", "id", "co", "io", "me", "info", "biz", "xyz", "app", "site", "online"}
)


def clean(raw: str) -> str:
    """NFKC-normalised text without control or invisible format characters, whitespace collapsed.

    Raises InvalidInput("input.too_long") for text longer than :data:`MAX_TEXT`. May return "".
    """
    # Before any work, so that a huge message costs nothing.
    if len(raw) > MAX_TEXT:
        raise InvalidInput("input.too_long", limit=MAX_TEXT)
    kept: list[str] = []
    for char in unicodedata.normalize("NFKC", raw):
        category = unicodedata.category(char)
        if category == "Cc":
            # Line breaks and tabs separate words; other control characters are noise.
            if char.isspace():
                kept.append(" ")
        elif category in ("Cf", "Cs"):
            # Cf: zero-width space/joiners, BOM, soft hyphen, bidi controls. Cs: lone surrogates
            # (JSON can carry them), which cannot be encoded as UTF-8 and would fail at storage.
            continue
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


def fold(text: str) -> str:
    """A key for comparing a typed answer with an option's title: case and trailing dots ignored."""
    return clean(text).casefold().rstrip(_TRAILING_PUNCTUATION)


def is_blank(raw: str) -> bool:
    """True when nothing visible is left after :func:`clean` (raises like it for too-long text)."""
    return clean(raw) == ""


def validate_name(raw: str) -> str:
    """The applicant's full name as on the ID card, or raise :class:`InvalidInput`.

    Letters of any script, combining marks, spaces, and . ' - are allowed. A name typed all in
    lower or all in upper case is capitalised word by word; any other casing is the user's choice
    (McDonald, de Souza) and kept.
    """
    name = clean(raw).translate(_APOSTROPHES)
    if not name:
        raise InvalidInput("name.empty")
    if len(name) > MAX_NAME:
        raise InvalidInput("name.too_long", limit=MAX_NAME)
    letters = 0
    others: list[str] = []
    for char in name:
        category = unicodedata.category(char)
        if category.startswith("L"):
            letters += 1
        elif not category.startswith("M") and char not in _NAME_PUNCTUATION:
            others.append(char)
    if "@" in others or any(_looks_like_domain(word) for word in name.split(" ")):
        raise InvalidInput("name.address")
    if others:
        # Say which: an emoji, a digit, a comma before a title are all refused for a reason.
        shown = list(dict.fromkeys(others))[:MAX_SHOWN]
        raise InvalidInput("name.characters", chars=", ".join(f"“{c}”" for c in shown))
    if letters < 2:
        raise InvalidInput("name.letters")
    if name.islower() or name.isupper():
        # Words start after a space, dot or hyphen, not after an apostrophe: "Nur'aini".
        name = _WORD_START.sub(lambda match: match[1] + match[2].upper(), name.lower())
    return name


def _looks_like_domain(word: str) -> bool:
    lowered = word.casefold().rstrip(".")
    if "." not in lowered:
        return False
    return lowered.startswith("www.") or lowered.rsplit(".", 1)[1] in _DOMAIN_ENDINGS
