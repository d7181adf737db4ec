"""A network of offices: a folder loaded as a whole; finding an office by region, place, name."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.booking.network import Network, distance_km, load_network, network_of, words
from bot.booking.office import parse_office
from bot.errors import ConfigError

BODY = """
[[services]]
id = "paspor-baru"
prefix = "A"
names = { id = "Paspor baru", en = "New passport" }
documents = { id = ["e-KTP"], en = ["e-KTP"] }

[hours]
mon = [{ start = "08:00", end = "10:00", seats = 10 }]
"""


def office_file(
    office_id: str,
    name: str,
    *,
    region: str | None = None,
    city: str | None = None,
    at: tuple[float, float] | None = None,
    timezone: str = "Asia/Jakarta",
    aliases: tuple[str, ...] = (),
    extra: str = "",
) -> str:
    lines = [
        "[office]",
        f'id = "{office_id}"',
        f'name = "{name}"',
        'address = "Jl. Contoh 1"',
        f'timezone = "{timezone}"',
    ]
    if region:
        lines.append(f'region = "{region}"')
    if city:
        lines.append(f'city = "{city}"')
    if at:
        lines.append(f"location = {{ lat = {at[0]}, lon = {at[1]} }}")
    if aliases:
        lines.append("aliases = [" + ", ".join(f'"{a}"' for a in aliases) + "]")
    return "\n".join(lines) + "\n" + extra + BODY


# Real places: (id, name, region, city, (lat, lon), zone)
PLACES = [
    ("kanim-jakpus", "Kantor Imigrasi Jakarta Pusat", "DKI Jakarta", "Jakarta Pusat",
     (-6.1536, 106.8440), "Asia/Jakarta"),
    ("kanim-jaksel", "Kantor Imigrasi Jakarta Selatan", "DKI Jakarta", "Jakarta Selatan",
     (-6.2615, 106.8106), "Asia/Jakarta"),
    ("kanim-bogor", "Kantor Imigrasi Bogor", "Jawa Barat", "Bogor",
     (-6.5622, 106.7992), "Asia/Jakarta"),
    ("kanim-bandung", "Kantor Imigrasi Bandung", "Jawa Barat", "Bandung",
     (-6.9175, 107.6191), "Asia/Jakarta"),
    ("kanim-makassar", "Kantor Imigrasi Makassar", "Sulawesi Selatan", "Makassar",
     (-5.1477, 119.4327), "Asia/Makassar"),
    ("kanim-jayapura", "Kantor Imigrasi Jayapura", "Papua", "Jayapura",
     (-2.5337, 140.7181), "Asia/Jayapura"),
]  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for office_id, name, region, city, at, zone in PLACES:
        text = office_file(office_id, name, region=region, city=city, at=at, timezone=zone)
        (tmp_path / f"{office_id}.toml").write_text(text)
    (tmp_path / "README.md").write_text("not an office")  # other files are left alone
    return tmp_path


def test_a_folder_is_one_network_indexed_by_region_and_city(folder: Path) -> None:
    network = load_network(folder)
    assert len(network) == len(PLACES) and network.only is None
    assert network["kanim-makassar"].timezone == "Asia/Makassar"
    assert network.regions() == ["DKI Jakarta", "Jawa Barat", "Papua", "Sulawesi Selatan"]
    assert network.cities("Jawa Barat") == ["Bandung", "Bogor"]
    assert [o.id for o in network.in_city("Jawa Barat", "Bogor")] == ["kanim-bogor"]
    assert network.in_city("Jawa Barat", "Nowhere") == [] and network.cities("Nowhere") == []


def test_one_office_file_is_a_network_of_one(tmp_path: Path) -> None:
    path = tmp_path / "office.toml"
    path.write_text(office_file("solo", "Kantor Solo"))
    network = network_of(None, path)
    assert network.only is not None and network.only.id == "solo"
    assert network_of(None, None).only is not None  # the demo office
    with pytest.raises(ConfigError, match="not both"):
        network_of(tmp_path, path)


def test_every_problem_of_every_file_is_reported_with_its_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(office_file("same", "Kantor A"))
    (tmp_path / "b.toml").write_text(office_file("same", "Kantor B"))
    (tmp_path / "c.toml").write_text(office_file("c", "Kantor C", timezone="Asia/Jakarta_Typo"))
    overlapping = BODY.replace(
        'mon = [{ start = "08:00", end = "10:00", seats = 10 }]',
        'mon = [{ start = "08:00", end = "10:00", seats = 10 },'
        ' { start = "09:00", end = "11:00", seats = 10 }]',
    )
    d = office_file("d", "Kantor D").replace(BODY, overlapping)
    (tmp_path / "d.toml").write_text(d)
    (tmp_path / "e.toml").write_text(
        office_file("e", "Kantor E", extra="\n[office.location]\nlat = 91\nlon = 0\n").replace(
            "[office]", "[office]", 1
        )
    )
    with pytest.raises(ConfigError) as raised:
        load_network(tmp_path)
    message = str(raised.value)
    assert "problems" in message
    assert f"{tmp_path / 'b.toml'}: office.id: 'same' is already the id of the office in" in message
    assert str(tmp_path / "a.toml") in message
    assert f"{tmp_path / 'c.toml'}: office.timezone: unknown time zone" in message
    assert f"{tmp_path / 'd.toml'}: hours.mon.1: window 09:00" in message
    assert str(tmp_path / "e.toml") in message


def test_location_and_region_keys_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"office.location.lat: .*less than or equal to 90"):
        parse_office(office_file("x", "X", at=(95.0, 10.0)), "x.toml")
    with pytest.raises(ConfigError, match=r"office.regoin: unknown key \(did you mean 'region'"):
        parse_office(office_file("x", "X").replace("timezone", 'regoin = "A"\ntimezone'), "x")


def test_an_empty_or_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no office files"):
        load_network(tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        load_network(tmp_path / "missing")


def test_the_nearest_offices_with_their_distance(folder: Path) -> None:
    network = load_network(folder)
    # Monas, central Jakarta.
    near = network.nearest(-6.1754, 106.8272, n=3)
    assert [n.office.id for n in near] == ["kanim-jakpus", "kanim-jaksel", "kanim-bogor"]
    assert 2 < near[0].km < 4 and 40 < near[2].km < 50
    # Far from every cell with an office: the rings widen until one is found (Makassar's).
    (only,) = network.nearest(-8.6, 116.1, n=1)  # Lombok
    assert only.office.id == "kanim-makassar"
    assert len(network.nearest(0, 0, n=10)) == len(PLACES)


def test_nearest_agrees_with_a_scan_of_every_office() -> None:
    import random

    rng = random.Random(7)
    offices = []
    for n in range(150):
        at = (rng.uniform(-11, 6), rng.uniform(95, 141))
        offices.append(parse_office(office_file(f"o{n}", f"Kantor {n}", at=at), f"o{n}"))
    network = Network(offices)
    for _ in range(200):
        lat, lon = rng.uniform(-12, 7), rng.uniform(94, 142)
        scan = sorted(
            offices,
            key=lambda o: (distance_km(lat, lon, o.location.lat, o.location.lon), o.id),  # type: ignore[union-attr]
        )[:3]
        assert [n.office.id for n in network.nearest(lat, lon)] == [o.id for o in scan]


def test_typed_names_match_forgivingly(folder: Path) -> None:
    network = load_network(folder)
    assert [o.id for o in network.search("jaksel").offices] == ["kanim-jaksel"]
    assert [o.id for o in network.search("Jakarta Selatan").offices] == ["kanim-jaksel"]
    assert [o.id for o in network.search("kanim bogor").offices] == ["kanim-bogor"]
    assert [o.id for o in network.search("bog").offices] == ["kanim-bogor"]
    # Both Jakarta offices match "jakarta" equally: both are offered.
    assert {o.id for o in network.search("jakarta").offices} == {"kanim-jakpus", "kanim-jaksel"}
    # Common words alone tell nothing.
    assert network.search("kantor imigrasi").offices == ()
    # A typo: nothing found, and the word it probably was.
    found = network.search("makasar")
    assert found.offices == () and found.guesses == ("makassar",)
    assert network.search("").offices == ()


def test_aliases_are_searched(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(office_file("a", "Kantor Imigrasi Kelas I TPI Tangerang",
                                                  aliases=("Soekarno-Hatta",)))  # fmt: skip
    network = load_network(tmp_path)
    assert [o.id for o in network.search("soekarno hatta").offices] == ["a"]


def test_words_drop_accents_and_punctuation() -> None:
    assert words("Kantor Imigrasi Kelas I (TPI) — Bogor, Jawa Barat") == [
        "kantor", "imigrasi", "kelas", "i", "tpi", "bogor", "jawa", "barat",
    ]  # fmt: skip
    assert words("Émile") == ["emile"]


def test_a_network_of_150_files_loads(tmp_path: Path) -> None:
    # How long it takes is bench/network.py's figure.
    demo = (Path(__file__).parents[3] / "bot/booking/demo/office.toml").read_text()
    for n in range(150):
        text = demo.replace('id = "kanim-jakpus"', f'id = "office-{n}"', 1)
        (tmp_path / f"office-{n}.toml").write_text(text)
    network = load_network(tmp_path)
    assert len(network) == 150 and network.get("office-149") is not None
