"""A network of offices: many office files read as one, and the ways an applicant finds theirs.

:func:`load_network` reads a folder of office files (the format of :mod:`bot.booking.office`, one
file per office) and validates them as a whole: every file's problems are reported together, each
naming its file and key, and an office id used twice names both files. One office file (the
``ANTREAN_OFFICE_CONFIG`` of a single-office deployment) is a network of one.

The lookups an applicant's choice needs are indexed once at start-up, so that their cost does not
grow with the number of offices: the offices of a region and city (:meth:`Network.regions`,
:meth:`Network.cities`, :meth:`Network.in_city`), the nearest to a shared location
(:meth:`Network.nearest`, over a grid of one-degree cells searched outwards from the applicant's)
and a forgiving match on typed names (:meth:`Network.search`: ``jaksel``, ``jakarta selatan``,
``kanim bogor``; a token index, with a "did you mean" over the words the offices use).
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.booking.office import Office, load_office, parse_office
from bot.errors import ConfigError

# Mean Earth radius (km), as the haversine formula uses it.
EARTH_KM = 6371.0088

# Words people type for the places and office kinds the offices' files spell out. A query's
# word is read as the words it stands for; the offices' own words are indexed as written.
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "jakpus": ("jakarta", "pusat"),
    "jaksel": ("jakarta", "selatan"),
    "jakut": ("jakarta", "utara"),
    "jakbar": ("jakarta", "barat"),
    "jaktim": ("jakarta", "timur"),
    "jkt": ("jakarta",),
    "kanim": ("kantor", "imigrasi"),
    "imi": ("imigrasi",),
    "kab": ("kabupaten",),
    "kabupaten": ("kabupaten",),
    "jabar": ("jawa", "barat"),
    "jateng": ("jawa", "tengah"),
    "jatim": ("jawa", "timur"),
    "sulsel": ("sulawesi", "selatan"),
    "sulut": ("sulawesi", "utara"),
    "sumut": ("sumatera", "utara"),
    "sumbar": ("sumatera", "barat"),
    "sumsel": ("sumatera", "selatan"),
    "kalbar": ("kalimantan", "barat"),
    "kaltim": ("kalimantan", "timur"),
    "kalsel": ("kalimantan", "selatan"),
    "ntb": ("nusa", "tenggara", "barat"),
    "ntt": ("nusa", "tenggara", "timur"),
    "diy": ("yogyakarta",),
    "jogja": ("yogyakarta",),
    "yogya": ("yogyakarta",),
}
# Words too common in office names to tell offices apart: they rank what other words found, and
# find nothing alone. Besides these, any word in more than COMMON_SHARE of the offices (and more
# than COMMON_MIN of them, so that "jakarta" still finds the Jakarta offices of a small network).
COMMON = frozenset({"kantor", "imigrasi", "kelas", "i", "ii", "iii", "tpi", "khusus", "non"})
COMMON_SHARE = 0.1
COMMON_MIN = 12

# Indonesia's time zones as people name them; any other zone is shown by its IANA name.
ZONE_LABELS = {
    "Asia/Jakarta": "WIB",
    "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA",
    "Asia/Jayapura": "WIT",
}


def zone_label(timezone: str) -> str:
    """How a time shows its zone: ``WIB``, ``WITA``, ``WIT``, else the IANA name."""
    return ZONE_LABELS.get(timezone, timezone)


_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text`` (accents dropped, punctuation a separator)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _WORD.findall(plain)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance by the haversine formula."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Near:
    office: Office
    km: float


@dataclass(frozen=True, slots=True)
class Found:
    """What a typed name matched: ``offices`` best first; ``guesses`` are the words the query's
    unknown words were probably meant to be (for a "did you mean" line), empty when all matched."""

    offices: tuple[Office, ...]
    guesses: tuple[str, ...] = ()


class Network:
    """The offices of one deployment, by id and indexed for choosing (built once)."""

    def __init__(self, offices: Iterable[Office]) -> None:
        ordered = sorted(offices, key=lambda o: (o.name.lower(), o.id))
        if not ordered:
            raise ConfigError("a network needs at least one office")
        self._by_id: dict[str, Office] = {}
        for office in ordered:
            if office.id in self._by_id:
                raise ConfigError(f"office id {office.id!r} is used by two offices")
            self._by_id[office.id] = office
        self._regions: dict[str, dict[str, list[Office]]] = defaultdict(lambda: defaultdict(list))
        self._cells: dict[tuple[int, int], list[Office]] = defaultdict(list)
        self._index: dict[str, set[str]] = defaultdict(set)
        for office in ordered:
            if office.region is not None:
                self._regions[office.region][office.city or office.region].append(office)
            if office.location is not None:
                self._cells[_cell(office.location.lat, office.location.lon)].append(office)
            for word in _office_words(office):
                self._index[word].add(office.id)
        self._vocabulary = sorted(self._index)
        lats, lons = [c[0] for c in self._cells], [c[1] for c in self._cells]
        self._bounds = (min(lats), max(lats), min(lons), max(lons)) if self._cells else (0, 0, 0, 0)
        many = max(COMMON_MIN, int(len(ordered) * COMMON_SHARE))
        self._common = COMMON | {word for word, ids in self._index.items() if len(ids) > many}

    # -- by id --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Office]:
        return iter(self._by_id.values())

    def __contains__(self, office_id: object) -> bool:
        return office_id in self._by_id

    def get(self, office_id: str) -> Office | None:
        return self._by_id.get(office_id)

    def __getitem__(self, office_id: str) -> Office:
        return self._by_id[office_id]

    @property
    def only(self) -> Office | None:
        """The office of a network of one (which asks no office question), else None."""
        return next(iter(self._by_id.values())) if len(self._by_id) == 1 else None

    # -- by region ----------------------------------------------------------------------------

    def regions(self) -> list[str]:
        """Regions (provinces) that have an office, alphabetically."""
        return sorted(self._regions, key=str.lower)

    def cities(self, region: str) -> list[str]:
        return sorted(self._regions.get(region, {}), key=str.lower)

    def in_city(self, region: str, city: str) -> list[Office]:
        return list(self._regions.get(region, {}).get(city, ()))

    # -- by location --------------------------------------------------------------------------

    def nearest(self, lat: float, lon: float, n: int = 3) -> list[Near]:
        """The ``n`` offices nearest to (``lat``, ``lon``), nearest first.

        Searches rings of one-degree cells outwards from the point's own and stops once no
        unsearched cell can hold an office nearer than the ``n``-th found, so the cost depends on
        how the offices are spread, not on how many there are.
        """
        if not self._cells:
            return []
        home = _cell(lat, lon)
        found: list[Near] = []
        # Rings past the farthest occupied cell hold nothing: stop there at the latest.
        last = self._farthest(home)
        for ring in range(last + 1):
            for cell in _ring(home, ring):
                for office in self._cells.get(cell, ()):
                    assert office.location is not None
                    km = distance_km(lat, lon, office.location.lat, office.location.lon)
                    found.append(Near(office, km))
            if len(found) >= n:
                found.sort(key=lambda near: (near.km, near.office.id))
                # An unsearched cell is at least `ring` degrees away on one axis; a degree of
                # longitude is shortest at the highest latitude those cells reach.
                widest = min(abs(lat) + ring + 1, 89.0)
                if found[n - 1].km <= ring * 111.19 * math.cos(math.radians(widest)):
                    break
        found.sort(key=lambda near: (near.km, near.office.id))
        return found[:n]

    def _farthest(self, home: tuple[int, int]) -> int:
        """At least the steps from ``home`` to the farthest occupied cell (from their bounds)."""
        lat_low, lat_high, lon_low, lon_high = self._bounds
        lat = max(abs(home[0] - lat_low), abs(home[0] - lat_high))
        antipode = (home[1] + 360) % 360 - 180
        if lon_low <= antipode <= lon_high:
            lon = 180
        else:
            lon = max(
                _chebyshev((0, home[1]), (0, lon_low)), _chebyshev((0, home[1]), (0, lon_high))
            )
        return max(lat, lon)

    # -- by name ------------------------------------------------------------------------------

    def search(self, text: str, n: int = 5) -> Found:
        """Offices whose name, city, region or aliases match ``text``, best first.

        A word of the query matches a word of the office as written, as the start of one (``bog``
        for ``bogor``) or through :data:`ABBREVIATIONS`. Words many offices share ("kantor",
        "imigrasi", a word in more than :data:`COMMON_SHARE` of the offices) only rank the offices
        the other words found, so a lookup never walks the whole network. Words that match no
        office are offered back as their closest indexed words.
        """
        scores: dict[str, float] = {}
        common: list[str] = []
        guesses: list[str] = []
        for typed in words(text):
            for word in ABBREVIATIONS.get(typed, (typed,)):
                if word in self._common:
                    common.append(word)
                    continue
                hits = self._hits(word)
                if not hits:
                    close = difflib.get_close_matches(word, self._vocabulary, n=1, cutoff=0.75)
                    guesses += close
                for office_id in hits:
                    scores[office_id] = scores.get(office_id, 0.0) + 1.0
        for word in common:
            having = self._index.get(word, set())
            for office_id in scores:
                if office_id in having:
                    scores[office_id] += 0.2
        if not scores:
            return Found((), tuple(dict.fromkeys(guesses)))
        top = max(scores.values())
        best = sorted(
            (office_id for office_id, score in scores.items() if score >= top),
            key=lambda office_id: self._by_id[office_id].name,
        )
        return Found(tuple(self._by_id[i] for i in best[:n]), tuple(dict.fromkeys(guesses)))

    def _hits(self, word: str) -> set[str]:
        """Offices with an indexed word equal to ``word`` or starting with it (three letters
        or more, so that "a" does not match everything)."""
        exact = self._index.get(word)
        if exact is not None or len(word) < 3:
            return set(exact or ())
        hits: set[str] = set()
        start = bisect_left(self._vocabulary, word)
        for indexed in self._vocabulary[start:]:
            if not indexed.startswith(word):
                break
            hits |= self._index[indexed]
        return hits


def _office_words(office: Office) -> set[str]:
    text = " ".join(filter(None, (office.name, office.city, office.region, *office.aliases)))
    return set(words(text))


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat), math.floor(lon)


def _chebyshev(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Steps between two cells, as :func:`_ring` counts them (longitudes wrap around)."""
    dlon = abs(a[1] - b[1]) % 360
    return max(abs(a[0] - b[0]), min(dlon, 360 - dlon))


def _ring(home: tuple[int, int], ring: int) -> Iterable[tuple[int, int]]:
    """The cells exactly ``ring`` steps (Chebyshev) from ``home``; longitudes wrap around."""
    lat0, lon0 = home
    if ring == 0:
        yield home
        return
    for dlat in range(-ring, ring + 1):
        lat = lat0 + dlat
        if not -90 <= lat < 90:
            continue
        steps: Sequence[int] = range(-ring, ring + 1) if abs(dlat) == ring else (-ring, ring)
        for dlon in steps:
            yield lat, (lon0 + dlon + 180) % 360 - 180


# -- loading -----------------------------------------------------------------------------------


def load_network(folder: Path) -> Network:
    """Read every ``*.toml`` office file in ``folder`` (not its subfolders) as one network.

    All files are read before anything is reported: a :class:`ConfigError` lists every file's
    problem, each naming its file and key, and an office id two files share.
    """
    if not folder.is_dir():
        raise ConfigError(f"offices folder {folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file())
    if not files:
        raise ConfigError(f"offices folder {folder}: no office files (*.toml) in it")
    offices: list[Office] = []
    problems: list[str] = []
    first_file: dict[str, Path] = {}
    for path in files:
        try:
            office = parse_office(path.read_bytes(), str(path))
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        except OSError as exc:
            problems.append(f"office file {path}: cannot be read ({exc.strerror})")
            continue
        if office.id in first_file:
            problems.append(
                f"office file {path}: office.id: {office.id!r} is already the id of the office "
                f"in {first_file[office.id]}"
            )
            continue
        first_file[office.id] = path
        offices.append(office)
    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "a problem"
        raise ConfigError(f"offices folder {folder}: {count}:\n" + "\n".join(problems))
    return Network(offices)


def network_of(folder: Path | None, office_file: Path | None) -> Network:
    """The deployment's network: the folder's offices, the one office file, or the demo office."""
    if folder is not None and office_file is not None:
        raise ConfigError(
            "set ANTREAN_OFFICES (a folder of office files) or ANTREAN_OFFICE_CONFIG (one "
            "office file), not both"
        )
    if folder is not None:
        return load_network(folder)
    return Network([load_office(office_file)])
