"""Folders of many office files (a network, ``ANTREAN_OFFICES``) made from one office file: the
tests' 150-office start-up test and the benchmarks (bench/network.py, bench/network_burst.py)
write them with :func:`write_offices`."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

DEMO = Path(__file__).parents[1] / "bot" / "booking" / "demo" / "office.toml"
ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
# The [office] keys the template's own values of are dropped (each office gets its own).
PLACE_KEYS = ("name", "timezone", "region", "city", "location", "aliases")


def office_name(n: int) -> str:
    """Office ``n``'s name; an applicant finds it by typing ``Kota <n>``."""
    return f"Kantor Imigrasi Kota {n}"


def write_offices(
    folder: Path,
    count: int,
    *,
    template: str | None = None,
    zones: Sequence[str] = ZONES,
    rng: random.Random | None = None,
    prefix: str = "office-",
) -> list[str]:
    """``count`` office files in ``folder``, made from ``template`` (an office file's text; the
    demo office's by default): office ``n`` is ``<prefix><n>``, named :func:`office_name`, in
    ``zones[n % len(zones)]``, in city ``Kota <n>`` of region ``Provinsi P<n % 38>`` (a word
    that is not a number, so that typing ``Kota 7`` finds office 7 alone), at a random location
    in Indonesia. Returns the ids."""
    text = DEMO.read_text() if template is None else template
    rng = rng or random.Random(14)
    width = len(str(count - 1))
    for key in PLACE_KEYS:
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
    ids = []
    for n in range(count):
        office_id = f"{prefix}{n:0{width}d}"
        lat, lon = rng.uniform(-10.5, 5.5), rng.uniform(95.5, 140.5)
        header = (
            f'id = "{office_id}"\nname = "{office_name(n)}"\n'
            f'timezone = "{zones[n % len(zones)]}"\n'
            f'region = "Provinsi P{n % 38}"\ncity = "Kota {n}"\n'
            f"location = {{ lat = {lat:.4f}, lon = {lon:.4f} }}\n"
        )
        office = re.sub(r'(?m)^id = ".*"\n', header, text, count=1)
        (folder / f"{office_id}.toml").write_text(office)
        ids.append(office_id)
    return ids
