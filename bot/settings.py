"""All configuration, from ``ANTREAN_*`` environment variables or a ``.env`` file.

One :class:`Settings` object is built at start-up (:func:`load_settings`) and passed down; nothing
else reads the environment.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

IDENTITY_RE = re.compile(r"^(telegram|whatsapp|console):[A-Za-z0-9_.+-]{1,64}$")
ENV_PREFIX = "ANTREAN_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    env: Literal["development", "production"] = "development"
    redis_url: str | None = None
    secret_key: SecretStr | None = None
    office_config: Path | None = None
    # RQ's Redis (reminders, broadcasts). Unset: the same server as ANTREAN_REDIS_URL. RQ needs a
    # standalone or Sentinel-managed server, not a Cluster.
    queue_redis_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    default_locale: Literal["id", "en"] = "id"
    staff: Annotated[tuple[str, ...], NoDecode] = ()
    var_dir: Path = Path("var")
    # A conversation idle this long starts again from the menu (the language choice is kept).
    session_idle_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # How long one process may hold a user's session before another may take it over.
    lease_seconds: float = Field(default=30.0, gt=0, le=600)

    # Telegram (channels/telegram.py). No token: the channel is off.
    telegram_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_secret: SecretStr | None = None
    telegram_mode: Literal["webhook", "polling"] = "webhook"

    # WhatsApp Cloud API (channels/whatsapp.py). No token: the channel is off.
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    # Approved message templates for messages outside the 24-hour window.
    whatsapp_template_reminder: str = "antrean_reminder"
    whatsapp_template_notice: str = "antrean_notice"

    @field_validator("staff", mode="before")
    @classmethod
    def _split_staff(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("staff")
    @classmethod
    def _check_staff(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for identity in value:
            if not IDENTITY_RE.match(identity):
                raise ValueError(
                    f"{identity!r} is not an identity like telegram:123456, "
                    "whatsapp:6281234567890 or console:admin"
                )
        return value

    @field_validator("redis_url", "queue_redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key) < 32:
                raise ValueError(
                    "ANTREAN_SECRET_KEY must be set to at least 32 characters when "
                    "ANTREAN_ENV=production (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`)"
                )
        return self

    def secret(self) -> bytes:
        """The HMAC key for booking codes and NIK hashes.

        In development a random key is generated once and kept in ``var/secret_key`` so that codes
        stay valid across restarts; in production the setting is required (checked at start-up).
        """
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value().encode()
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning validation errors into one :class:`ConfigError` that names
    each offending environment variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ENV_PREFIX + "_".join(str(part) for part in err["loc"]).upper()
            if not err["loc"]:
                name = "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from exc
