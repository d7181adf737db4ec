from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.infra.settings import load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.redis_url is None
    assert (settings.http_host, settings.http_port, settings.default_locale) == (
        "127.0.0.1",
        8080,
        "id",
    )


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTREAN_HTTP_PORT", "9090")
    monkeypatch.setenv("ANTREAN_STAFF", "telegram:123456, whatsapp:6281234567890,console:admin")
    settings = load_settings()
    assert settings.http_port == 9090
    assert settings.staff == ("telegram:123456", "whatsapp:6281234567890", "console:admin")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANTREAN_HTTP_PORT", "eighty"),
        ("ANTREAN_HTTP_PORT", "70000"),
        ("ANTREAN_DEFAULT_LOCALE", "fr"),
        ("ANTREAN_STAFF", "telegram:123,fax:99"),
        ("ANTREAN_REDIS_URL", "http://localhost"),
        ("ANTREAN_ENV", "staging"),
    ],
)
def test_a_wrong_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("ANTREAN_HTTP_PORT", "abc", "ANTREAN_HTTP_PORT='abc': input should be a valid integer"),
        ("ANTREAN_HTTP_PORT", "70000", "ANTREAN_HTTP_PORT='70000': input should be less than"),
        ("ANTREAN_REDIS_URL", "http://x", "ANTREAN_REDIS_URL='http://x': must start with"),
        ("ANTREAN_STAFF", "console:a=boss", "ANTREAN_STAFF: 'console:a': role 'boss' is not"),
    ],
)
def test_a_wrong_value_is_repeated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, shown: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert shown in str(caught.value)


def test_a_wrong_secret_is_not_repeated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings(secret_key=987654321)
    assert "ANTREAN_SECRET_KEY=(hidden): input should be a valid string" in str(caught.value)
    assert "987654321" not in str(caught.value)


def test_production_requires_a_secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTREAN_ENV", "production")
    with pytest.raises(ConfigError, match="ANTREAN_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "x" * 40)
    assert load_settings().secret() == b"x" * 40


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    first = settings.secret()
    assert len(first) >= 32 and settings.secret() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ANTREAN_DEFAULT_LOCALE=en\n")
    assert load_settings().default_locale == "en"


def test_a_turns_send_time_never_exceeds_half_the_lease() -> None:
    assert load_settings().send_budget == 8.0
    assert load_settings(lease_seconds=2).send_budget == 1.0
    assert load_settings(send_seconds=3, lease_seconds=30).send_budget == 3.0
