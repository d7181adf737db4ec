"""The WhatsApp channel, over Meta's WhatsApp Cloud API (Graph API).

Inbound: Meta POSTs a signed webhook envelope (``object: whatsapp_business_account``) to
``/webhook/whatsapp``; each message in it becomes an :class:`~bot.core.messages.Inbound`, keyed
by its ``wamid`` so that Meta's redeliveries are dropped by the engine. Outbound: one POST to
``/{phone_number_id}/messages`` per message (rendering in :mod:`channels.whatsapp.render`; the
webhook in :mod:`channels.whatsapp.webhook`; Graph API errors in :mod:`channels.whatsapp.graph`).

Free-form messages may only be sent within 24 hours of the user's last message; after that only
an approved template gets through (:meth:`WhatsAppChannel.notify`). Meta may refuse free-form text
at once (HTTP 400, code 131047) or accept it and report the refusal later, as a ``failed`` status
in the webhook: both end in the template.

Payload shapes follow Meta's references: the ``messages`` webhook (``entry[].changes[].value`` with
``metadata``, ``contacts``, ``messages``, ``statuses``), interactive reply buttons and list
messages, template messages, media upload, and the Graph API error codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import redis.asyncio as aioredis
from aiohttp import web
from httpx_aiohttp import AiohttpTransport
from redis.exceptions import RedisError

from bot.core.channel import Deadline, Handle, Notice, PacedChannel, left
from bot.core.clock import Clock, ms
from bot.core.messages import (
    AskLocation,
    Choices,
    Image,
    Inbound,
    Location,
    Option,
    Outbound,
    Text,
)
from bot.core.pacing import Rate
from bot.core.writes import Write, apply
from bot.errors import ChannelError, ConfigError, StorageError
from bot.infra.keys import ChannelKeys
from bot.infra.logs import anon
from bot.infra.settings import Settings
from channels.webhook import READ_TIMEOUT
from channels.whatsapp.graph import (
    AUTH,
    BASE_DELAY,
    OUTSIDE_WINDOW,
    PAIR_RATE,
    RETRYABLE,
    THROTTLE_ATTEMPTS,
    THROTTLED,
    THROUGHPUT,
    TRANSIENT,
    TRANSIENT_ATTEMPTS,
    UNDELIVERABLE,
    UNKNOWN_OBJECT,
    GraphError,
)
from channels.whatsapp.render import (
    MORE_PREFIX,
    Payload,
    choices_payloads,
    location_payload,
    location_request_payloads,
    template_payload,
    text_payloads,
)
from channels.whatsapp.webhook import BODIES_IN_FLIGHT, RECORD_STATUS, routes

if TYPE_CHECKING:
    from bot.core.pacing import Pacer

# The package's name, as before the split: log lines and their filters stay the same.
log = logging.getLogger(__package__)

PAGE_RE = re.compile(r"[0-9]{1,4}")
WINDOW = timedelta(hours=24)
PAGE_GONE = "Pilihan ini sudah tidak berlaku. / These options have expired."
LANGUAGES = {"id": "id", "en": "en"}


Sleep = Callable[[float], Awaitable[None]]

FALLBACK_TTL = 86400


def page_number(text: str) -> int | None:
    """The page a "more" row names: a few ASCII digits, nothing else ``int`` would read
    (" 1", "1_0", Arabic-Indic digits)."""
    return int(text) if PAGE_RE.fullmatch(text) else None


class WhatsAppChannel(PacedChannel):
    name = "whatsapp"
    # Meta retries a webhook that was not answered 200 with decreasing frequency for up to
    # 7 days (https://developers.facebook.com/docs/graph-api/webhooks/getting-started).
    redelivers_for = timedelta(days=7)
    # How long a webhook body may take to arrive, and the bytes all of this process's webhook
    # bodies may hold while they do (channels/webhook.py).
    read_timeout = READ_TIMEOUT
    bodies = BODIES_IN_FLIGHT
    # One user: Meta's pair rate limit, 1 message per 6 s from a business number (code 131056;
    # bursts allowed but "borrowed" from later quota, so we keep ours to a conversation's few
    # replies: https://developers.facebook.com/docs/whatsapp/cloud-api/overview#pair-rate-limits).
    recipient_rate = Rate(1 / 6, 3)
    # The whole bot: Cloud API throughput per business number, 80 messages a second (code 130429
    # beyond it; ANTREAN_WHATSAPP_RATE).
    rate: float | None = 80.0
    redis: aioredis.Redis  # always: the 24-hour window and delivery states live there

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        phone_number_id: str,
        app_secret: str,
        verify_token: str,
        redis: aioredis.Redis,
        clock: Clock,
        template_reminder: str = "antrean_reminder",
        template_notice: str = "antrean_notice",
        sleep: Sleep = asyncio.sleep,
        owns_client: bool = False,
        pacer: Pacer | None = None,
        timeout: float = 4.0,
        budget: float = 8.0,
        rate: float = 80.0,
    ) -> None:
        self.client = client
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret.encode()
        self.verify_token = verify_token
        self.redis = redis
        self.clock = clock
        self.template_reminder = template_reminder
        self.template_notice = template_notice
        self.sleep = sleep
        self._owns_client = owns_client
        # Without a pacer, sends go out as before (throttling is still retried with backoff).
        self.pacer = pacer
        # One request at most ``timeout`` seconds (waiting for a pooled connection included); a
        # send with its retries at most ``budget`` unless the caller passes its own deadline.
        self.timeout = timeout
        self.budget = budget
        self.rate = rate
        self._auth_logged = False
        self._record_status = redis.register_script(RECORD_STATUS)

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: aioredis.Redis, clock: Clock, pacer: Pacer | None = None
    ) -> WhatsAppChannel:
        missing = [
            f"ANTREAN_WHATSAPP_{name.upper()}"
            for name in ("token", "phone_number_id", "app_secret", "verify_token")
            if not getattr(settings, f"whatsapp_{name}")
        ]
        if missing:
            raise ConfigError("WhatsApp needs " + ", ".join(missing))
        assert settings.whatsapp_token and settings.whatsapp_phone_number_id
        assert settings.whatsapp_app_secret and settings.whatsapp_verify_token
        # httpx's API over aiohttp's connection pool (httpx-aiohttp): httpcore's own pool scans
        # every connection on each request, which was half the CPU of a web process in the
        # quota-opening burst (bench/burst.py, py-spy).
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        client = httpx.AsyncClient(
            base_url=settings.whatsapp_api_base,
            headers={"Authorization": f"Bearer {settings.whatsapp_token.get_secret_value()}"},
            timeout=httpx.Timeout(settings.platform_timeout_seconds),
            transport=AiohttpTransport(limits=limits),
        )
        return cls(
            client,
            phone_number_id=settings.whatsapp_phone_number_id,
            app_secret=settings.whatsapp_app_secret.get_secret_value(),
            verify_token=settings.whatsapp_verify_token.get_secret_value(),
            redis=redis,
            clock=clock,
            template_reminder=settings.whatsapp_template_reminder,
            template_notice=settings.whatsapp_template_notice,
            owns_client=True,
            pacer=pacer,
            timeout=settings.platform_timeout_seconds,
            budget=settings.send_budget,
            rate=settings.whatsapp_rate,
        )

    async def start(self) -> None:
        """Check the token and phone number id with one read of the phone number, so that a bad
        setting stops the process at start-up instead of failing every send later."""
        try:
            await self._call(
                "get",
                f"/{self.phone_number_id}",
                params={"fields": "id,display_phone_number,verified_name"},
            )
        except GraphError as exc:
            if exc.code == AUTH or exc.status == 401:
                self._auth_logged = True
                raise ConfigError(
                    f"WhatsApp refused the access token ({exc}): renew ANTREAN_WHATSAPP_TOKEN"
                ) from exc
            if exc.code == UNKNOWN_OBJECT:
                raise ConfigError(
                    f"WhatsApp does not know phone number {self.phone_number_id} for this token "
                    f"({exc}): check ANTREAN_WHATSAPP_PHONE_NUMBER_ID"
                ) from exc
            # Meta having a bad minute is no reason to refuse to start: sends retry on their own.
            log.warning("could not check the WhatsApp settings at start-up: %s", exc)
        except httpx.HTTPError as exc:
            log.warning("WhatsApp unreachable at start-up, carrying on: %s", exc)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    # -- inbound ---------------------------------------------------------------------------

    def routes(self, handle: Handle) -> list[web.RouteDef]:
        return routes(self, handle)

    async def _send_fallback(self, wa_id: str, wamid: str) -> int:
        """Send the template remembered for a refused free-form notice, once."""
        keys = ChannelKeys(self.name, wa_id)
        try:
            raw = await self.redis.get(keys.fallback(wamid))
            if raw is None:
                return 200  # not a notice, already handled, or older than a day
            data = json.loads(raw)
            # A long notice went out in several pieces and each may fail: one template in all.
            claim = keys.fallback_sent(data["first"])
            if not await self.redis.set(claim, 1, nx=True, ex=FALLBACK_TTL):
                return 200
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable, asking Meta to redeliver: %s", exc)
            return 503
        payload = template_payload(
            data["template"], LANGUAGES.get(data["locale"], "id"), data["params"]
        )
        try:
            await self._post_message(wa_id, payload)
        except ChannelError as exc:
            if exc.code in RETRYABLE:
                # Let Meta's redelivery of this status try again.
                with contextlib.suppress(RedisError, OSError):
                    await self.redis.delete(claim)
                log.warning(
                    "template to user %s failed, will retry: %s", anon(f"whatsapp:{wa_id}"), exc
                )
                return 503
            log.warning("template to user %s refused: %s", anon(f"whatsapp:{wa_id}"), exc)
        try:
            await self.redis.delete(*(keys.fallback(w) for w in data["wamids"]))
        except (RedisError, OSError) as exc:
            # The claim still stands for a day: a redelivered status sends nothing.
            log.warning("could not forget the sent template: %s", exc)
        return 200

    async def act(self, message: Inbound, *, deadline: Deadline | None = None) -> list[Write]:
        """A tap on the "more" row of a long list (its option ``__more:<page>``), once the engine
        has admitted it: that page of the latest options, or word that they have gone."""
        try:
            raw = await self.redis.get(ChannelKeys(self.name, message.user_id).choices)
        except (RedisError, OSError) as exc:
            raise StorageError(f"Redis unreachable: {exc}") from exc
        page = page_number((message.option or "").removeprefix(MORE_PREFIX))
        if raw is None or page is None:
            payloads = text_payloads(PAGE_GONE)
        else:
            data = json.loads(raw)
            choices = Choices(data["text"], tuple(Option(*o) for o in data["options"]))
            payloads = choices_payloads(choices, page)
        for payload in payloads:
            await self._post_message(message.user_id, payload, counted=True, deadline=deadline)
        return self._counting(message.user_id, len(payloads))

    # -- outbound --------------------------------------------------------------------------

    async def _send_all(
        self, user_id: str, messages: Sequence[Outbound], deadline: Deadline | None = None
    ) -> list[Write]:
        """Send; return the writes the messages leave (long option lists kept for paging)."""
        writes: list[Write] = []
        for message in messages:
            if isinstance(message, Text):
                for payload in text_payloads(message.text):
                    await self._post_message(user_id, payload, counted=True, deadline=deadline)
            elif isinstance(message, Choices):
                if len(message.options) > 10:
                    writes.append(self._remember_choices(user_id, message))
                for payload in choices_payloads(message):
                    await self._post_message(user_id, payload, counted=True, deadline=deadline)
            elif isinstance(message, Location):
                await self._post_message(
                    user_id, location_payload(message), counted=True, deadline=deadline
                )
            elif isinstance(message, AskLocation):
                for payload in location_request_payloads(message):
                    await self._post_message(user_id, payload, counted=True, deadline=deadline)
            elif isinstance(message, Image):
                media_id = await self._upload(message, deadline)
                image: Payload = {"id": media_id}
                if message.caption:
                    image["caption"] = message.caption[:1024]
                await self._post_message(
                    user_id, {"type": "image", "image": image}, counted=True, deadline=deadline
                )
        return writes

    def _remember_choices(self, user_id: str, choices: Choices) -> Write:
        """Keep long option lists so that the "more" row can show the next page later (if the
        write fails, the first page still went out; only its "more" row answers "expired")."""
        data = {
            "text": choices.text,
            "options": [[o.id, o.title, o.description] for o in choices.options],
        }
        key = ChannelKeys(self.name, user_id).choices
        return Write(("SET", key, json.dumps(data, ensure_ascii=False), "EX", 86400))

    async def deliver_paced(
        self,
        user_id: str,
        text: str,
        *,
        locale: str,
        pacer: Pacer | None = None,
        claim: Callable[[], Awaitable[bool]] | None = None,
    ) -> bool:
        """Send one unprompted text (a broadcast) like :meth:`notify` with the notice template,
        each message waiting for its turn in the pacing buckets. ``claim`` is awaited after the
        first wait, right before the first send: when it answers False nothing is sent and False
        is returned. A 131026 raises ChannelError with code ``undeliverable``."""
        pacer = pacer or self.pacer
        params = [text]
        fallback = template_payload(self.template_notice, LANGUAGES.get(locale, "id"), params)
        free_form = await self.in_window(user_id)
        wamids: list[str] = []
        for i, payload in enumerate(text_payloads(text) if free_form else [fallback]):
            if pacer is not None:
                await pacer.wait_turn(self.name, user_id, self.limits)
            if i == 0 and claim is not None and not await claim():
                return False
            try:
                wamids.append(await self._post_message(user_id, payload, paced=pacer))
            except ChannelError as exc:
                if not free_form or exc.code != str(OUTSIDE_WINDOW):
                    raise
                if pacer is not None:
                    await pacer.wait_turn(self.name, user_id, self.limits)
                await self._post_message(user_id, fallback, paced=pacer)
                return True
        if free_form:
            await self._remember_fallback(
                user_id,
                wamids,
                {"template": self.template_notice, "locale": locale, "params": params},
            )
        return True

    async def notify(self, user_id: str, notice: Notice) -> None:
        """Tell a user something unprompted: free-form inside the 24-hour window, else (or when
        Meta refuses the text) the approved template of the notice with its params. A notice
        with its own ``messages`` (a button) sends them inside the window, as any reply."""
        template, params, locale = notice.template, list(notice.params), notice.locale
        fallback = template_payload(template, LANGUAGES.get(locale, "id"), params)
        if not await self.in_window(user_id):
            await self._post_message(user_id, fallback)
            return
        if notice.messages:
            await self.send(user_id, notice.body)
            return
        wamids: list[str] = []
        try:
            for payload in text_payloads(notice.text):
                wamids.append(await self._post_message(user_id, payload))
        except ChannelError as exc:
            if exc.code != str(OUTSIDE_WINDOW):
                raise
            # Our clock and Meta's disagree about the window: the template always gets through.
            await self._post_message(user_id, fallback)
            return
        # Meta may still refuse the text later, in a failed status: keep what to send then.
        await self._remember_fallback(
            user_id, wamids, {"template": template, "locale": locale, "params": list(params)}
        )

    async def _remember_fallback(
        self, user_id: str, wamids: list[str], call: dict[str, Any]
    ) -> None:
        wamids = [w for w in wamids if w]
        if not wamids:
            return
        data = json.dumps({**call, "first": wamids[0], "wamids": wamids}, ensure_ascii=False)
        keys = ChannelKeys(self.name, user_id)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for wamid in wamids:
                    pipe.set(keys.fallback(wamid), data, ex=FALLBACK_TTL)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # The notice went out; only a late refusal of it would go unanswered.
            log.warning("could not keep the template of a notice: %s", exc)

    async def in_window(self, user_id: str) -> bool:
        try:
            raw = await self.redis.get(ChannelKeys(self.name, user_id).lastin)
        except (RedisError, OSError) as exc:
            raise StorageError(f"could not read the last message time: {exc}") from exc
        if raw is None:
            return False
        return ms(self.clock.now()) - int(raw) < WINDOW.total_seconds() * 1000

    async def undeliverable(self, user_id: str) -> bool:
        try:
            return bool(await self.redis.exists(ChannelKeys(self.name, user_id).undeliverable))
        except (RedisError, OSError) as exc:
            raise StorageError(f"could not read the undeliverable mark: {exc}") from exc

    async def delivery(self, user_id: str, wamid: str) -> str | None:
        """The furthest delivery state Meta reported for one message we sent, if any."""
        try:
            raw = await self.redis.hget(ChannelKeys(self.name, user_id).delivery, wamid)
        except (RedisError, OSError) as exc:
            raise StorageError(f"could not read the delivery state: {exc}") from exc
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def _post_message(
        self,
        to: str,
        payload: Payload,
        *,
        paced: Pacer | None = None,
        counted: bool = False,
        deadline: Deadline | None = None,
    ) -> str:
        """Send one message to one recipient, retrying what may succeed later; return its wamid.

        ``paced``: the caller has waited for this message's turn with that pacer (a broadcast).
        ``counted``: the caller has counted it already (``send`` counts a turn's replies at once).
        Otherwise, with a pacer configured, the message goes out at once but is counted.
        Everything, retries and backoff included, is over by ``deadline`` (default:
        :attr:`budget` from now); a backoff that would pass it is the error's ``retry_after``.
        """
        if deadline is None:
            deadline = time.monotonic() + self.budget
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(payload)
        pacer = paced or self.pacer
        if paced is None and not counted:
            # Pacing is a courtesy to Meta: a failure to count is logged, the message still goes.
            await apply(self.redis, self._counting(to, 1))
        throttled = transient = 0
        while True:
            try:
                path = f"/{self.phone_number_id}/messages"
                data = await self._call("post", path, deadline=deadline, json=body)
                return str(data.get("messages", [{}])[0].get("id", ""))
            except GraphError as exc:
                error = exc
            except httpx.HTTPError as exc:
                transient += 1
                delay = BASE_DELAY * 2 ** (transient - 1)
                if transient >= TRANSIENT_ATTEMPTS or delay >= left(deadline):
                    raise ChannelError(
                        f"WhatsApp unreachable: {exc}", retry_after=delay, code="network"
                    ) from exc
                await self.sleep(delay)
                continue
            if error.code in THROTTLED:
                # Only this recipient's coroutine waits: other users' sends go on meanwhile.
                throttled += 1
                delay = BASE_DELAY * 2 ** (throttled - 1)
                await self._pause(pacer, error.code, to, delay)
                if throttled >= THROTTLE_ATTEMPTS or delay >= left(deadline):
                    raise ChannelError(
                        str(error), retry_after=delay, code=str(error.code)
                    ) from error
                await self.sleep(delay)
            elif error.code == TRANSIENT or error.status >= 500:
                transient += 1
                delay = BASE_DELAY * 2 ** (transient - 1)
                if transient >= TRANSIENT_ATTEMPTS or delay >= left(deadline):
                    # A 5xx without a WhatsApp code is Meta's front door failing: code 131000.
                    code = str(error.code) if error.code else str(TRANSIENT)
                    raise ChannelError(str(error), retry_after=delay, code=code) from error
                await self.sleep(delay)
            elif error.code == UNDELIVERABLE:
                await self._mark_undeliverable(to)
                raise ChannelError(str(error), code="undeliverable") from error
            else:
                self._check_auth(error)
                raise ChannelError(str(error), code=str(error.code)) from error

    async def _upload(self, image: Image, deadline: Deadline | None = None) -> str:
        # Not counted in the pacing buckets: Meta's message limits are about messages, and the
        # message that shows the upload is counted.
        if deadline is None:
            deadline = time.monotonic() + self.budget
        try:
            data = await self._call(
                "post",
                f"/{self.phone_number_id}/media",
                deadline=deadline,
                data={"messaging_product": "whatsapp", "type": image.mime},
                files={"file": (image.filename, image.data, image.mime)},
            )
        except GraphError as exc:
            self._check_auth(exc)
            raise ChannelError(f"image upload refused: {exc}", code=str(exc.code)) from exc
        except httpx.HTTPError as exc:
            raise ChannelError(f"image upload failed: {exc}", code="network") from exc
        return str(data["id"])

    async def _pause(self, pacer: Pacer | None, code: int, to: str, seconds: float) -> None:
        """Hold back only the bucket the refusal concerns: Meta names no wait, so our backoff."""
        if pacer is None:
            return
        try:
            if code == PAIR_RATE:
                await pacer.pause_recipient(self.name, to, seconds)
            elif code == THROUGHPUT:
                await pacer.pause_channel(self.name, seconds)
        except StorageError as exc:
            log.warning("could not pause pacing: %s", exc)

    def _check_auth(self, error: GraphError) -> None:
        if (error.code == AUTH or error.status == 401) and not self._auth_logged:
            # Every send will fail until someone renews the token: say so once, loudly.
            self._auth_logged = True
            log.error("WhatsApp access token refused (%s): renew ANTREAN_WHATSAPP_TOKEN", error)

    async def _call(
        self, method: str, url: str, *, deadline: Deadline | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """One Graph API request, over within :attr:`timeout` and by ``deadline`` (waiting for a
        pooled connection included): httpx's and aiohttp's timeouts leave the pool wait out."""
        limit = self.timeout if deadline is None else min(self.timeout, left(deadline))
        if limit <= 0:
            raise httpx.TimeoutException("out of time before the request")
        try:
            async with asyncio.timeout(limit):
                response = await self.client.request(method, url, **kwargs)
        except TimeoutError as exc:
            raise httpx.TimeoutException(f"no answer within {limit:.1f}s") from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.is_success and isinstance(data, dict):
            return data
        error = data.get("error", {}) if isinstance(data, dict) else {}
        raise GraphError(
            response.status_code,
            int(error.get("code", 0) or 0),
            str(error.get("message", response.reason_phrase)),
        )

    async def _mark_undeliverable(self, to: str) -> None:
        try:
            await self.redis.set(ChannelKeys(self.name, to).undeliverable, ms(self.clock.now()))
        except (RedisError, OSError) as exc:
            log.warning("could not mark user %s undeliverable: %s", anon(f"whatsapp:{to}"), exc)
