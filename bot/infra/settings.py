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
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError

IDENTITY_RE = re.compile(r"^(telegram|whatsapp|console):[A-Za-z0-9_.+-]{1,64}$")
# An office id as a staff entry's scope names it (the office file's ``id``).
OFFICE_SCOPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Staff roles, weakest first: an admin may do everything an officer may.
STAFF_ROLES = ("officer", "admin")
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
    # Redis connections per process (standalone Redis; a Cluster client caps commands in
    # flight instead). Past it, commands wait for a free connection.
    redis_max_connections: int = Field(default=200, ge=1)
    secret_key: SecretStr | None = None
    office_config: Path | None = None
    # A network of offices: a folder of office files (one per office). Unset: the one office of
    # ANTREAN_OFFICE_CONFIG (or the demo office). Not both.
    offices: Path | None = None
    # The name the welcome message gives a network of offices ("Imigrasi"); a network of one
    # is welcomed with its office's name.
    network_name: str = "Antrean"
    # RQ's Redis (reminders, broadcasts). Unset: the same server as ANTREAN_REDIS_URL. RQ needs a
    # standalone or Sentinel-managed server, not a Cluster.
    queue_redis_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    # Where people reach this web app (behind a proxy: its public https:// address): the base
    # of the staff sign-in links. Unset: the address ``antrean run`` listens on (see
    # ``public_base_url``). https:// also marks the staff session cookie Secure.
    public_url: str | None = None
    # How long a staff sign-in link (/masuk, /login) stays valid.
    signin_link_minutes: int = Field(default=5, ge=1, le=60)
    default_locale: Literal["id", "en"] = "id"
    # Staff identities, each optionally with a role and the office it is for:
    # `telegram:123=admin,console:desk1,telegram:7=officer@kanim-jakpus,telegram:8=admin@*` (no
    # role: officer; no office: the office of a network of one, every office of a network).
    # ``staff`` keeps the bare identities; ``staff_roles`` their roles; ``staff_scopes`` their
    # offices ("*": all).
    staff: Annotated[tuple[str, ...], NoDecode] = ()
    staff_roles: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    staff_scopes: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    var_dir: Path = Path("var")
    # A conversation idle this long starts again from the menu (the language choice is kept).
    session_idle_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # "text" for a terminal, "json" (one object a line) for log collectors.
    log_format: Literal["text", "json"] = "text"
    # Where `antrean worker` serves its Prometheus metrics (unset: it serves none).
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Messages one account may send per minute on average, and at once (a token bucket: a
    # person tapping through a booking and retyping a NIK stays well within it, a script does
    # not). Over it, one cooldown notice, then silence until the bucket is full again
    # (0 a minute turns the limit off).
    rate_limit_per_minute: int = Field(default=20, ge=0, le=10_000)
    rate_limit_burst: int = Field(default=15, ge=1, le=10_000)
    # How long one process may hold a user's session before another may take it over.
    lease_seconds: float = Field(default=30.0, gt=0, le=600)
    # How long a turn may spend sending its replies (pool wait, requests, retries, waits a
    # platform asks for; at most half the lease, see ``send_budget``), and one platform HTTP
    # request at most. What is not out by then is left
    # to the outbox (bot/core/outbox.py), which a worker sends later: a turn never outlives its
    # lease.
    send_seconds: float = Field(default=8.0, gt=0, le=120)
    platform_timeout_seconds: float = Field(default=4.0, gt=0, le=120)
    # How long the booking prompts may show seats from the process's availability snapshot
    # (bot/booking/snapshot.py) without reading them again, at most: a safety net, as every
    # change is announced to the snapshot anyway.
    seat_snapshot_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Telegram (channels/telegram/). No token: the channel is off.
    telegram_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_secret: SecretStr | None = None
    telegram_mode: Literal["webhook", "polling"] = "webhook"

    # WhatsApp Cloud API (channels/whatsapp/). No token: the channel is off.
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    # Approved message templates for messages outside the 24-hour window.
    whatsapp_template_reminder: str = "antrean_reminder"
    whatsapp_template_notice: str = "antrean_notice"

    # Outgoing pacing (bot/core/pacing.py): messages per second for the whole bot, per channel.
    # Telegram's broadcast limit is about 30/s; WhatsApp Cloud API throughput 80/s per number.
    telegram_rate: float = Field(default=30.0, gt=0, le=10_000)
    whatsapp_rate: float = Field(default=80.0, gt=0, le=10_000)

    # Anti-scalper rules (one deployment serves one office, so these are the office's rules).
    # No-shows within noshow_window_days that block a NIK; 0 turns strikes off.
    noshow_strikes: int = Field(default=2, ge=0, le=100)
    noshow_window_days: int = Field(default=30, ge=1, le=366)
    noshow_block_days: int = Field(default=14, ge=1, le=366)
    # Minutes before a day's quota opens during which applicants join a pre-queue that is served
    # in random order at the opening (so that bots firing at the opening second gain nothing);
    # 0 turns the pre-queue off.
    prerelease_minutes: int = Field(default=10, ge=0, le=24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _split_staff_roles(cls, data: object) -> object:
        # The role is a suffix of each ANTREAN_STAFF entry rather than a second variable, so that an
        # identity and its role cannot drift apart. Split here, before the fields are validated.
        if not isinstance(data, dict) or "staff" not in data:
            return data
        value = data["staff"]
        entries = value.split(",") if isinstance(value, str) else list(value or ())
        identities: list[str] = []
        roles: dict[str, str] = {}
        scopes: dict[str, str] = {}
        for entry in (str(e).strip() for e in entries):
            if not entry:
                continue
            identity, sep, role = entry.partition("=")
            identity = identity.strip()
            identities.append(identity)
            role, at, scope = role.partition("@")
            roles[identity] = role.strip().lower() if sep and role.strip() else "officer"
            scopes[identity] = scope.strip() if at else "*"
        return {**data, "staff": tuple(identities), "staff_roles": roles, "staff_scopes": scopes}

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

    @field_validator("staff_roles")
    @classmethod
    def _check_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for identity, role in value.items():
            if role not in STAFF_ROLES:
                raise ValueError(
                    f"{identity!r}: role {role!r} is not one of {', '.join(STAFF_ROLES)} "
                    "(ANTREAN_STAFF=telegram:123456=admin,console:desk1)"
                )
        return value

    @field_validator("staff_scopes")
    @classmethod
    def _check_scopes(cls, value: dict[str, str]) -> dict[str, str]:
        for identity, scope in value.items():
            if scope != "*" and not OFFICE_SCOPE_RE.match(scope):
                raise ValueError(
                    f"{identity!r}: office {scope!r} is not an office id or * "
                    "(ANTREAN_STAFF=telegram:123456=officer@kanim-jakpus,telegram:7=admin@*)"
                )
        return value

    @model_validator(mode="after")
    def _one_office_source(self) -> Settings:
        if self.offices is not None and self.office_config is not None:
            raise ValueError(
                "set ANTREAN_OFFICES (a folder of office files) or ANTREAN_OFFICE_CONFIG (one "
                "office file), not both"
            )
        return self

    def staff_scope(self, identity: str) -> str | None:
        """The office a staff identity acts for ("*": every office), or None for everyone
        else."""
        if identity not in self.staff:
            return None
        return self.staff_scopes.get(identity, "*")

    @property
    def send_budget(self) -> float:
        """A turn's send time in use: ``send_seconds``, but never more than half the lease (a
        turn must end well within it, also with a short lease)."""
        return min(self.send_seconds, self.lease_seconds / 2)

    def staff_role(self, identity: str) -> str | None:
        """The role of a staff identity ("officer" or "admin"), or None for everyone else."""
        if identity not in self.staff:
            return None
        return self.staff_roles.get(identity, "officer")

    def public_base_url(self) -> str:
        """``public_url`` without its trailing slash, else the local address ``antrean run``
        listens on (a wildcard host as the loopback address, which a browser can open)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.http_host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.http_port}"

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", value):
            raise ValueError(
                "must be an http:// or https:// address like https://antrean.example.go.id"
            )
        return value

    @field_validator("redis_url", "queue_redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^(redis|rediss|unix|redis-sentinel|redis-cluster)://", value):
            raise ValueError(
                "must start with redis://, rediss://, unix://, redis-sentinel:// "
                "or redis-cluster://"
            )
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
    each offending environment variable and repeats its value (a secret's stays hidden)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from exc


def _problem(err: ErrorDetails) -> str:
    """``ANTREAN_HTTP_PORT='abc': should be a valid integer, ...`` for one validation error."""
    if not err["loc"]:
        return err["msg"].removeprefix("Value error, ")
    field = str(err["loc"][0])
    # The roles are written in ANTREAN_STAFF (see _split_staff_roles).
    name = ENV_PREFIX + ("staff" if field in ("staff_roles", "staff_scopes") else field).upper()
    value = err.get("input")
    shown = ""
    if isinstance(value, str | int | float) and field in Settings.model_fields:
        secret = Settings.model_fields[field].annotation in (SecretStr, SecretStr | None)
        shown = "=(hidden)" if secret else f"={value!r}"
    message = err["msg"].removeprefix("Value error, ")
    return f"{name}{shown}: {message[:1].lower()}{message[1:]}"
