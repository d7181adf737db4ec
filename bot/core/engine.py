"""The engine runs one turn per inbound message: load the session, route the message to the
current step (or a global word), send the answer through the user's channel, save.

Channels call :meth:`Engine.handle` and map its outcome to their platform (e.g. HTTP status).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from bot.core.channel import Channel, Outcome, PacedChannel
from bot.core.clock import ms
from bot.core.dialog import (
    CANCEL,
    HELP,
    LANGUAGE,
    RESUME,
    TO_MENU,
    Context,
    Goto,
    Prompt,
    Reply,
    Services,
    Steps,
    UnknownStep,
)
from bot.core.matching import match
from bot.core.messages import (
    ACTION,
    LOCATION,
    TEXT,
    AskLocation,
    Choices,
    Inbound,
    Outbound,
    Text,
    option_token,
)
from bot.core.outbox import CLAIM_MS, Outbox
from bot.core.pacing import Pacer
from bot.core.sessions import InFlight, Session
from bot.core.text import MAX_TEXT, clean, fold
from bot.core.writes import Write, apply
from bot.errors import ChannelError, InvalidInput, SessionLost, StorageError, Unsent
from bot.infra.logs import anon
from bot.infra.metrics import PLATFORM_ERRORS, SENDS, TURN_SECONDS, UPDATES

log = logging.getLogger(__name__)

# Times one message is started (a takeover after a dead holder starts it again) before it is
# given up: then the user gets the generic error and the menu instead.
MAX_ATTEMPTS = 3
# A refusal shows the options again only when they fit on a phone screen; a longer list is
# still there just above (and a platform's buttons stay under it).
SHORT_LIST = 4
# How much of a refused answer a refusal quotes back.
QUOTE_CHARS = 30
# In a session's memo while a request for the user's location may still be on screen.
LOCATION_SHOWN = "_loc_shown"


def coalesce(messages: list[Outbound]) -> list[Outbound]:
    """Join a turn's consecutive texts, and a text with the question after it, into one message:
    a greeting and the menu, an error and the question asked again. Fewer messages read better,
    and each one costs a platform call and a token of its rate limit. (Channels split what is
    over their platform's length limit.)"""
    joined: list[Outbound] = []
    for message in messages:
        previous = joined[-1] if joined else None
        if isinstance(previous, Text) and isinstance(message, Text):
            ends = previous.ends_location_request or message.ends_location_request
            joined[-1] = Text(f"{previous.text}\n\n{message.text}", ends)
        elif isinstance(previous, Text) and isinstance(message, Choices):
            joined[-1] = Choices(f"{previous.text}\n\n{message.text}", message.options)
        elif isinstance(previous, Text) and isinstance(message, AskLocation):
            joined[-1] = replace(message, text=f"{previous.text}\n\n{message.text}")
        else:
            joined.append(message)
    return joined


def withdraw_location_request(
    session: Session, message: Inbound, replies: list[Outbound]
) -> list[Outbound]:
    """``replies``, the first text among them marked as taking back a request for the user's
    location that is still on screen (:attr:`Text.ends_location_request`).

    A request is on screen from the turn that sends it (:class:`AskLocation`; the memo keeps
    that, beyond a reset to the menu) until the user shares a location (a one-time control,
    such as Telegram's reply keyboard, hides itself when used) or a text goes out once the
    conversation no longer asks for one. Turns of buttons only leave it there for a later text."""
    if any(isinstance(reply, AskLocation) for reply in replies):
        session.memo[LOCATION_SHOWN] = 1
        return replies
    if LOCATION_SHOWN not in session.memo:
        return replies
    if message.kind == LOCATION:
        del session.memo[LOCATION_SHOWN]
        return replies
    if session.data.get("_loc"):  # still asked for (the step asked again after a typed text)
        return replies
    for n, reply in enumerate(replies):
        if isinstance(reply, Text):
            del session.memo[LOCATION_SHOWN]
            return [*replies[:n], replace(reply, ends_location_request=True), *replies[n + 1 :]]
    return replies


def failure(exc: BaseException) -> str:
    """An exception's type and where it was raised, for a log line: never its message, which
    may quote what the user typed."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


def forget(session: Session) -> None:
    """Back to the menu with nothing kept but the language and the memo (a state a turn failed
    in)."""
    session.step, session.offered = None, []
    session.data.clear()


@dataclass(slots=True)
class Lease:
    """What the engine keeps while it holds a user's lease and handles the user's messages."""

    # The user's outbox holds replies: begin saw some, or a turn of this lease put some there.
    # Every later reply goes behind them. Only the lease holder puts, and a sender only removes,
    # so an outbox empty at begin stays empty until we put something.
    outbox_pending: bool = False


class Engine:
    def __init__(self, deps: Services, steps: Steps, channels: Mapping[str, Channel]) -> None:
        # Every step named by a step or a command is registered (UnknownStep otherwise).
        steps.check()
        self.deps = deps
        self.steps = steps
        self.channels = dict(channels)
        self.idle_ms = deps.settings.session_idle_minutes * 60_000
        # Replies not sent within a turn's time go to the outbox, which workers send: only
        # where there are workers (``deps.jobs``) to send it.
        self.outbox = Outbox(deps.redis) if deps.jobs is not None else None

    def _now_ms(self) -> int:
        return ms(self.deps.clock.now())

    async def handle(self, inbound: Inbound) -> Outcome:
        """Handle one message and every message of the same user queued behind it (or left in
        flight by a process that died).

        Raises :class:`~bot.errors.StorageError` when Redis is unreachable: the message is then
        not recorded, and the platform should deliver it again. A message that fails outside
        its step is answered with the generic error, never left in the lease to fail again.
        """
        sessions = self.deps.sessions
        try:
            turn = await sessions.begin(
                inbound, self._now_ms(), remember_ms=self._redelivery_ms(inbound.channel)
            )
        except StorageError:
            UPDATES.labels(inbound.channel, "storage_error").inc()
            raise
        UPDATES.labels(inbound.channel, "handled" if turn.status == "run" else turn.status).inc()
        carried = list(inbound.carried)
        if carried and turn.status != "run":
            # No turn of ours to carry them: made at once.
            await apply(self.deps.redis, carried)
            carried = []
        if turn.retry_after_ms:
            await self._cooldown(inbound, turn.raw_session, turn.retry_after_ms)
        if turn.status == "limited" or turn.status == "silenced":
            return "handled"
        if turn.status != "run":
            return turn.status
        session = Session.loads(
            inbound.identity, turn.raw_session, now_ms=self._now_ms(), idle_ms=self.idle_ms
        )
        in_flight = turn.in_flight
        lease = Lease(outbox_pending=turn.outbox_pending)
        while in_flight is not None:
            started = time.perf_counter()
            # The turn's label (the booking bot: its office), as the turn found the
            # conversation or, when it had none, as the turn left it.
            before = self.deps.turn_label(session.data)
            # One pacing count per bucket for the keyboard the tap removed and the replies.
            writes = Pacer.merged(carried + await self._settle(session, inbound, in_flight, lease))
            carried = []
            label = before or self.deps.turn_label(session.data)
            TURN_SECONDS.labels(inbound.channel, label).observe(time.perf_counter() - started)
            try:
                in_flight = await sessions.finish(
                    inbound.identity, turn.token, session, self._now_ms(), writes
                )
            except SessionLost:
                # We were too slow; the process that took over re-runs our message.
                log.warning("lease lost for user %s", anon(inbound.identity))
                return "handled"
        return "handled"

    def _redelivery_ms(self, channel_name: str) -> int:
        """How long the platform may deliver a message of ``channel_name`` again."""
        channel = self.channels.get(channel_name)
        window = channel.redelivers_for if channel is not None else Channel.redelivers_for
        return int(window.total_seconds() * 1000)

    async def _settle(
        self, session: Session, arrived: Inbound, in_flight: InFlight, lease: Lease
    ) -> list[Write]:
        """Run one message of the lease and send its replies; return the writes for its save.

        A message that cannot run (unreadable, started too often: it kills whoever runs it, or
        failing outside its step) is answered with the generic error and the menu instead, so
        that the user is never stuck behind it. Only StorageError escapes (Redis is gone: the
        message stays in flight and runs again on redelivery)."""
        message = in_flight.inbound
        if message is not None and in_flight.attempts <= MAX_ATTEMPTS:
            try:
                if message.kind == ACTION:
                    return await self._act(message)
                replies, writes = await self._run_turn(session, message)
                return writes + await self._deliver(message, replies, lease)
            except StorageError:
                raise
            except Exception as exc:
                problem = f"failed outside its step ({failure(exc)})"
        elif message is None:
            problem = "unreadable"
        else:
            problem = f"started {in_flight.attempts - 1} times without finishing"
        identity = anon(arrived.identity)
        if in_flight.attempts > MAX_ATTEMPTS + 1:
            # Even answering it did not finish: drop it without a word.
            log.error("dropped a message of user %s: %s", identity, problem)
            forget(session)
            return []
        log.error("gave up on a message of user %s: %s", identity, problem)
        return await self._apologise(session, message or arrived, lease)

    async def _act(self, message: Inbound) -> list[Write]:
        """A channel's own action (a page of a keyboard), once admitted; within the send time."""
        channel = self.channels.get(message.channel)
        if channel is None:
            return []
        deadline = time.monotonic() + self.deps.settings.send_budget
        try:
            return await channel.act(message, deadline=deadline)
        except ChannelError as exc:
            self._lost(message, exc)
            return []

    async def _apologise(self, session: Session, message: Inbound, lease: Lease) -> list[Write]:
        """The generic error and the menu, from a reset session, whatever fails on the way."""
        ctx = self._context(session, message)
        try:
            await self._reset(ctx)
            ctx.say(ctx.t("error.internal"))
            await self._goto(ctx, self.steps.menu)
            return ctx.writes + await self._deliver(message, coalesce(ctx.outbox), lease)
        except StorageError:
            raise
        except Exception as exc:
            log.error("could not answer user %s: %s", anon(message.identity), failure(exc))
            forget(session)
            return []

    async def _cooldown(self, message: Inbound, raw_session: str | None, wait_ms: int) -> None:
        """The one notice a user gets when writing faster than the limit allows."""
        session = Session.loads(
            message.identity, raw_session, now_ms=self._now_ms(), idle_ms=self.idle_ms
        )
        ctx = self._context(session, message)
        seconds = max(1, -(-wait_ms // 1000))
        log.info("user %s over the message rate limit", anon(message.identity))
        # No turn, so no save to carry the channel's writes: it makes them at once.
        await self._deliver(message, [Text(ctx.t("rate.cooldown", seconds=seconds))], None)

    async def _deliver(
        self, message: Inbound, replies: list[Outbound], lease: Lease | None
    ) -> list[Write]:
        """Send a turn's replies; return the writes the channel leaves for the turn's save.
        (``lease`` None: not a turn's replies, sent at once, never to the outbox.)

        The sends end by the turn's deadline (``send_budget`` from now), well within the lease.
        With an outbox, what could not go out by then is put there for a worker to send; and
        while a user's outbox holds anything (``lease.outbox_pending``), a turn's replies go
        behind it, in order.
        """
        channel = self.channels.get(message.channel)
        if channel is None:
            log.error("no channel %r configured; dropping replies", message.channel)
            return []
        deadline = time.monotonic() + self.deps.settings.send_budget
        behind = lease is not None and lease.outbox_pending and isinstance(channel, PacedChannel)
        if behind and self.outbox is not None and replies:
            await self.outbox.put(message.channel, message.user_id, message.message_id, replies)
            SENDS.labels(message.channel, "deferred").inc()
            await self._send_later(message.identity)
            return []
        writes: list[Write] = []
        try:
            if lease is not None:
                writes = await channel.reply(message.user_id, replies, deadline=deadline)
            else:
                await channel.send(message.user_id, replies)
            SENDS.labels(message.channel, "ok").inc()
        except Unsent as exc:
            writes = exc.writes
            if not (lease is not None and exc.retryable and self.outbox is not None):
                self._lost(message, exc)
                return writes
            SENDS.labels(message.channel, "deferred").inc()
            PLATFORM_ERRORS.labels(message.channel, exc.code or "unknown").inc()
            # The next messages of this lease reply behind these.
            lease.outbox_pending = True
            await self.outbox.put(
                message.channel,
                message.user_id,
                message.message_id,
                replies[exc.sent :],
                first_index=exc.sent,
            )
            log.info(
                "replies to user %s left to the outbox (message %s): %s",
                anon(message.identity),
                message.message_id,
                exc,
            )
            wait = exc.retry_after or 0.0
            token = Outbox.new_token()
            # Nobody tries before the wait is over (a later turn's replies queue behind).
            held = await self.outbox.hold(message.identity, token, int(wait * 1000) + CLAIM_MS)
            await self._send_later(message.identity, wait, token if held else "")
        except ChannelError as exc:
            self._lost(message, exc)
        return writes

    async def _send_later(self, identity: str, wait: float = 0.0, token: str = "") -> None:
        """Have a worker send the user's outbox (after ``wait`` s, what the platform asked; as
        the holder of the claim ``token``, if given)."""
        assert self.deps.jobs is not None
        try:
            await self.deps.jobs.send_outbox(identity, wait=wait, token=token)
        except StorageError as exc:
            # The entries stay; the user's next turn schedules the outbox again.
            log.warning("could not schedule the outbox of user %s: %s", anon(identity), exc)

    def _lost(self, message: Inbound, exc: ChannelError) -> None:
        SENDS.labels(message.channel, "failed").inc()
        PLATFORM_ERRORS.labels(message.channel, exc.code or "unknown").inc()
        # The turn's effects are saved; a lost reply is recovered by the user's next message.
        log.warning(
            "could not reply to user %s on %s (message %s): %s",
            anon(message.identity),
            message.channel,
            message.message_id,
            exc,
        )

    def _context(self, session: Session, message: Inbound) -> Context[Services]:
        catalog = self.deps.catalog
        locale = catalog.resolve_locale(
            session.locale, message.locale_hint, self.deps.settings.default_locale
        )
        return Context(
            self.deps, session, message.channel, message.user_id, locale, message.message_id
        )

    async def _run_turn(
        self, session: Session, message: Inbound
    ) -> tuple[list[Outbound], list[Write]]:
        """The turn's replies, and the writes it left for its save."""
        ctx = self._context(session, message)
        try:
            await self._route(ctx, message)
        except InvalidInput as exc:
            ctx.say(ctx.t(exc.key, **exc.params))
            await self._ask(ctx)
        except StorageError:
            # Redis went away mid-turn: nothing is saved and the message stays in flight in our
            # lease, so the platform's redelivery (we answer 503) runs the turn again.
            raise
        except Exception:
            # Never leave a user without an answer, and never half-way in a broken step.
            log.exception("turn failed for user %s at step %s", anon(ctx.identity), session.step)
            await self._reset(ctx)
            ctx.say(ctx.t("error.internal"))
            await self._goto(ctx, self.steps.menu)
        return withdraw_location_request(session, message, coalesce(ctx.outbox)), ctx.writes

    async def _route(self, ctx: Context[Services], message: Inbound) -> None:
        session = ctx.session
        if len(message.text) > MAX_TEXT:
            raise InvalidInput("input.too_long", limit=MAX_TEXT)
        text = clean(message.text)
        word = self.steps.words.get(fold(text).lstrip("/").split("@")[0]) if text else None
        if word == LANGUAGE and self.steps.language is None:
            word = None  # a bot without a language choice

        if session.fresh:
            session.fresh = False
            greeting = {"expired": "session.expired", "upgraded": "session.upgraded"}
            ctx.say(ctx.t(greeting.get(session.restarted, "welcome"), **self.deps.welcome_params()))
            # A known command (a staff member's first /stats) is carried out after the greeting;
            # anything else starts at the menu.
            if (
                word not in (LANGUAGE, HELP)
                and not self._is_command(text, message)
                and self._link(session, message) is None
            ):
                await self._goto(ctx, self.steps.menu)
                return

        if word == TO_MENU:
            await self._reset(ctx)
            await self._goto(ctx, self.steps.menu)
            return
        if word == CANCEL:
            await self._reset(ctx)
            ctx.say(ctx.t("cancelled"))
            await self._goto(ctx, self.steps.menu)
            return
        if word == HELP:
            channel = self.channels.get(message.channel)
            ctx.say(ctx.t("help" if channel is None or channel.buttons else "help_typed"))
            role = self.deps.settings.staff_role(ctx.identity)
            if role is not None:
                ctx.say(ctx.t(f"staff.help_{role}"))
            await self._ask(ctx)
            return
        if word == LANGUAGE and self.steps.language is not None:
            # Back to the same step, with its data (and held seat), once the language is set.
            if session.step not in (None, self.steps.menu, self.steps.language):
                session.data[RESUME] = session.step
            await self._goto(ctx, self.steps.language)
            return

        link = self._link(session, message)
        if link is not None:
            link_name, rest = link
            await self._reset(ctx)
            followed = await self.steps.links[link_name](ctx, rest)
            self._check(session.step, followed, link=link_name)
            await self._goto(ctx, followed)
            return

        if text.startswith("/") and message.option is None:
            name, _, args = text[1:].partition(" ")
            command_name = name.split("@")[0].casefold()
            command = self.steps.commands.get(command_name)
            if command is not None:
                target = await command(ctx, args.strip())
                if target is not None:
                    if target != session.step:  # staying where one is needs no declaring
                        self._check(session.step, target, command=command_name)
                    await self._goto(ctx, target)
                    return

        if session.step is None or session.step not in self.steps:
            # New, or at a step this version of the bot no longer has.
            await self._goto(ctx, self.steps.menu)
            return

        if message.location is not None and session.data.get("_loc"):
            # A shared location, where the step asked for one. The platform's control was used
            # (Telegram's one-time keyboard hides): asked again, the step shows it again.
            session.data["_loc"] = 1
            step = self.steps[session.step]
            target = await step.answer(ctx, Reply(location=message.location))
            self._check(step.name, target)
            await self._goto(ctx, target)
            return
        if message.kind != TEXT:
            # A sticker, a photo...: nothing a step can read. Say so and ask again.
            return await self._reask(ctx, "input.not_text")
        reply = self._match(session, message.option, text)
        if reply is None:
            return await self._reask(ctx, "option.stale")
        if not reply.option and not reply.text:
            return await self._reask(ctx, "input.empty")
        step = self.steps[session.step]
        if session.offered and reply.option is None and not session.data.get("_free"):
            return await self._refuse(ctx, text)
        target = await step.answer(ctx, reply)
        self._check(step.name, target)
        await self._goto(ctx, target)

    def _check(
        self,
        source: str | None,
        target: str,
        *,
        command: str | None = None,
        link: str | None = None,
    ) -> None:
        """A step (or command, or link) sending the user to a step it does not declare is a bug:
        the turn fails (logged; the user gets the generic error and the menu)."""
        if not self.steps.allows(source, target, command=command, link=link):
            who = f"command /{command}" if command is not None else f"step {source!r}"
            who = f"link {link!r}" if link is not None else who
            raise UnknownStep(f"{who} went to {target!r}, which it does not declare in goes_to")

    def _is_command(self, text: str, message: Inbound) -> bool:
        if not text.startswith("/") or message.option is not None:
            return False
        name = text[1:].partition(" ")[0].split("@")[0].casefold()
        return name in self.steps.commands

    def _link(self, session: Session, message: Inbound) -> tuple[str, str] | None:
        """The link (its name, the rest of its id) a tapped option follows: a registered link's
        option that is not among the options on offer (those are the step's own)."""
        found = self.steps.link_of(message.option)
        if found is None or self._match(session, message.option, "") is not None:
            return None
        return found

    def _match(self, session: Session, option: str | None, text: str) -> Reply | None:
        """Resolve a tapped option or typed text against the options on offer."""
        offered = session.offered
        if option is not None:
            for oid, _ in offered:
                if option in (oid, option_token(oid)):
                    return Reply(option=oid)
            return None
        today = self.deps.local_today()
        return Reply(text=text, option=match(offered, text, today).option if offered else None)

    async def _reask(self, ctx: Context[Services], key: str) -> None:
        ctx.say(ctx.t(key, count=len(ctx.session.offered)))
        await self._ask(ctx)

    async def _refuse(self, ctx: Context[Services], text: str) -> None:
        """Typed text that is none of the options: quote it, and show the options again if few."""
        offered = ctx.session.offered
        quoted = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
        candidates = match(offered, text, self.deps.local_today()).candidates
        if candidates:
            titles = dict(offered)
            which = ", ".join(titles[oid] for oid in candidates)
            refusal = ctx.t("option.ambiguous", text=quoted, which=which, count=len(offered))
        else:
            refusal = ctx.t("option.unknown", text=quoted, count=len(offered))
        if len(offered) <= SHORT_LIST:
            ctx.say(refusal)
            await self._ask(ctx)
        else:
            ctx.say(refusal + " " + ctx.t("option.above"))

    async def _goto(self, ctx: Context[Services], name: str) -> None:
        ctx.session.step = name
        await self._ask(ctx)

    async def _ask(self, ctx: Context[Services], hops: int = 0) -> None:
        session = ctx.session
        name = session.step if session.step and session.step in self.steps else self.steps.menu
        session.step = name
        try:
            prompt: Prompt = await self.steps[name].ask(ctx)
        except Goto as jump:
            if hops >= 4:
                raise RuntimeError(f"steps redirect in a loop at {name!r}") from jump
            self._check(name, jump.step)
            session.step = jump.step
            return await self._ask(ctx, hops + 1)
        session.offered = [(o.id, o.title) for o in prompt.options]
        if prompt.free_text:
            session.data["_free"] = 1
        else:
            session.data.pop("_free", None)
        # Whether this step's request for a location is on screen already (the step asked
        # again after typed text): a Telegram reply keyboard stays, so it is not sent twice.
        shown = session.data.get("_loc") == name
        if prompt.location:
            session.data["_loc"] = name
        else:
            session.data.pop("_loc", None)
        if prompt.options:
            ctx.outbox.append(Choices(prompt.text, tuple(prompt.options)))
        else:
            ctx.outbox.append(Text(prompt.text))
        if prompt.location and not shown:
            ctx.outbox.append(
                AskLocation(
                    ctx.t("location.ask"), ctx.t("location.button"), ctx.t("location.typed")
                )
            )

    async def _reset(self, ctx: Context[Services]) -> None:
        for hook in self.steps.resets:
            await hook(ctx)
        locale = ctx.session.locale
        ctx.session.data.clear()
        ctx.session.offered = []
        ctx.session.locale = locale
