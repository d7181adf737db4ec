"""The dialog layer handlers are written against.

A conversation is a set of named :class:`Step` objects. The engine *asks* the current step for a
:class:`Prompt` (text and options), and hands the user's next message to its ``answer`` as a
:class:`Reply`, which returns the name of the step to ask next. Steps see a :class:`Context` — the
session data, the user's identity and language, and the bot's own dependencies (``ctx.deps``) —
never a Redis client or a channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from bot.core.messages import Image, Location, Option, Outbound, Text
from bot.core.writes import Write
from bot.errors import ConfigError

if TYPE_CHECKING:
    from datetime import date, datetime

    import redis.asyncio as aioredis

    from bot.core.clock import Clock
    from bot.core.i18n import Catalog
    from bot.core.jobs import Jobs
    from bot.core.sessions import Session, SessionStore


class Settings(Protocol):
    """The settings the engine and a turn's context read (the process's settings object has
    these and more)."""

    @property
    def default_locale(self) -> str: ...
    @property
    def staff(self) -> tuple[str, ...]: ...
    @property
    def session_idle_minutes(self) -> int: ...
    @property
    def send_budget(self) -> float: ...
    def staff_role(self, identity: str) -> str | None: ...


class Services(Protocol):
    """What the engine needs of the bot it runs: a bot's own dependencies object (the booking
    bot's is :class:`bot.booking.app.App`) has these and whatever its steps use.
    :class:`bot.core.deps.Deps` has them all, with defaults for the last two."""

    @property
    def settings(self) -> Settings: ...
    @property
    def redis(self) -> aioredis.Redis: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def jobs(self) -> Jobs | None:
        """Where work for the workers goes; None where nothing may be queued (a process
        without workers): replies a turn could not send are then dropped, not kept."""
        ...

    def local_today(self) -> date:
        """Today where the bot's users are: what "tomorrow" and "Monday" mean."""
        ...

    def welcome_params(self) -> dict[str, Any]:
        """The parameters of the welcome message (``welcome``, ``session.expired``, ...)."""
        ...

    def turn_label(self, data: Mapping[str, Any]) -> str:
        """What the turn-latency metric is labelled with besides the channel, from the
        conversation's ``data``: one of a few values the bot knows at start-up (never anything
        a user typed), or "" for none."""
        ...


# The bot's dependencies, as a turn's context hands them to the bot's steps.
D = TypeVar("D", bound=Services)

# The step a bot starts at and comes back to (the default name of it: see Steps.menu).
MENU = "menu"
# In a step's ``goes_to``: any registered step, one chosen at run time (back where the user was).
ANYWHERE = "*"
# What the global words do (Steps.words maps words to these).
TO_MENU, CANCEL, HELP, LANGUAGE = "menu", "cancel", "help", "language"
# The words that work at every step by default, typed or as a command (/start).
WORDS: Mapping[str, str] = {
    "menu": TO_MENU,
    "start": TO_MENU,
    "cancel": CANCEL,
    "help": HELP,
    "language": LANGUAGE,
}
# Session data: the step to go back to after a detour (the language choice).
RESUME = "_resume"


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    options: Sequence[Option] = ()
    # Whether typed text that matches no option still goes to ``answer`` (a NIK, a name).
    free_text: bool = False
    # Whether a shared map location goes to ``answer`` (as ``Reply.location``).
    location: bool = False


class Goto(Exception):
    """Raised by a step's ``ask`` to send the user to another step instead (e.g. nothing left
    to choose from). Whatever the step said before raising is still sent."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


@dataclass(frozen=True, slots=True)
class Reply:
    """What the user answered: the id of an option on offer, or cleaned typed text."""

    text: str = ""
    option: str | None = None
    # A shared map location (latitude, longitude), where the prompt asked for one.
    location: tuple[float, float] | None = None


class Step(Protocol):
    name: str

    @property
    def goes_to(self) -> Collection[str]:
        """The steps ``answer`` may return and ``ask`` may :class:`Goto`, besides itself and
        the menu (:data:`ANYWHERE`: any step, one chosen at run time). Checked when the
        engine is built, and again at run time."""
        ...

    async def ask(self, ctx: Context[Any]) -> Prompt: ...

    async def answer(self, ctx: Context[Any], reply: Reply) -> str:
        """Return the name of the step to ask next (the same name asks again).
        Raise :class:`~bot.errors.InvalidInput` to explain and ask again."""
        ...


Reset = Callable[["Context[Any]"], Awaitable[None]]
# A slash command (``/stats 2030-03-05``): gets the context and the text after the command word.
# Returns the step to ask next, or None when the command is not for this user (e.g. a staff
# command from an applicant): the message is then handled exactly like any other text.
Command = Callable[["Context[Any]", str], Awaitable[str | None]]
# An option that works at every step, whatever is on offer: a button of a message sent outside
# the conversation (a worker's notice), whose id is ``<name>:<rest>``. Following it leaves what
# the user was doing (the reset hooks run, the data is cleared); the handler gets the context and
# ``<rest>`` and returns the step to ask next (the menu, having said why, for a link no longer
# any good).
Link = Callable[["Context[Any]", str], Awaitable[str]]


class UnknownStep(ConfigError):
    """A step or command names a step that is not registered, or goes to one it does not
    declare in its ``goes_to``: a bug in the bot, found when its engine is built (or, for a
    name chosen at run time, when the turn runs)."""


@dataclass
class Steps:
    """The registry of a bot's steps, plus hooks run when a user abandons a conversation, and
    the bot's choices the engine follows: its menu step, its language step (None: the bot has
    no language choice) and its global words (word -> TO_MENU, CANCEL, HELP or LANGUAGE)."""

    steps: dict[str, Step] = field(default_factory=dict)
    resets: list[Reset] = field(default_factory=list)
    commands: dict[str, Command] = field(default_factory=dict)
    menu: str = MENU
    language: str | None = None
    words: Mapping[str, str] = field(default_factory=lambda: dict(WORDS))
    # The steps each command may send the user to (besides the menu).
    command_targets: dict[str, Collection[str]] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    link_targets: dict[str, Collection[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, *steps: Step, **choices: Any) -> Steps:
        """A registry of ``steps``; ``choices`` are the other fields (``menu="start"``)."""
        registry = cls(**choices)
        for step in steps:
            registry.add(step)
        return registry

    def add(self, step: Step) -> Step:
        if step.name in self.steps:
            raise ValueError(f"step {step.name!r} is registered twice")
        self.steps[step.name] = step
        return step

    def command(self, name: str, handler: Command, goes_to: Collection[str] = ()) -> Command:
        """Register ``/name``, which may send the user to the steps ``goes_to`` (besides the
        menu). Global words (menu, help, …) always win over commands."""
        if name in self.commands:
            raise ValueError(f"command {name!r} is registered twice")
        self.commands[name] = handler
        self.command_targets[name] = tuple(goes_to)
        return handler

    def link(self, name: str, handler: Link, goes_to: Collection[str] = ()) -> Link:
        """Register the options ``<name>:...`` as a link (see :data:`Link`), which may send the
        user to the steps ``goes_to`` (besides the menu)."""
        if not name or ":" in name:
            raise ValueError(f"a link's name has no ':' ({name!r})")
        if name in self.links:
            raise ValueError(f"link {name!r} is registered twice")
        self.links[name] = handler
        self.link_targets[name] = tuple(goes_to)
        return handler

    def link_of(self, option: str | None) -> tuple[str, str] | None:
        """The registered link ``option`` follows and the rest of its id, or None."""
        if option is None:
            return None
        name, colon, rest = option.partition(":")
        return (name, rest) if colon and name in self.links else None

    def on_reset(self, hook: Reset) -> Reset:
        self.resets.append(hook)
        return hook

    def check(self) -> None:
        """Raise :class:`UnknownStep` unless the menu and language steps and every step a
        step or command declares it goes to are registered (the engine calls this)."""
        if self.menu not in self.steps:
            raise UnknownStep(f"the menu step {self.menu!r} is not registered")
        if self.language is not None and self.language not in self.steps:
            raise UnknownStep(f"the language step {self.language!r} is not registered")
        unknown = set(self.words.values()) - {TO_MENU, CANCEL, HELP, LANGUAGE}
        if unknown:
            raise UnknownStep(f"global words do {sorted(unknown)}, which the engine does not know")
        declared = [(f"step {n!r}", step.goes_to) for n, step in self.steps.items()]
        declared += [(f"command /{n}", targets) for n, targets in self.command_targets.items()]
        declared += [(f"link {n!r}", targets) for n, targets in self.link_targets.items()]
        for who, targets in declared:
            for target in targets:
                if target != ANYWHERE and target not in self.steps:
                    raise UnknownStep(f"{who} goes to {target!r}, which is not a registered step")

    def allows(
        self,
        source: str | None,
        target: str,
        *,
        command: str | None = None,
        link: str | None = None,
    ) -> bool:
        """Whether step ``source`` (or ``command``, or ``link``) may send the user to step
        ``target``."""
        if target not in self.steps:
            return False
        if target == self.menu or target == source:
            return True
        if link is not None:
            declared = self.link_targets.get(link, ())
        elif command is not None:
            declared = self.command_targets.get(command, ())
        else:
            step = self.steps.get(source or "")
            declared = step.goes_to if step is not None else ()
        return ANYWHERE in declared or target in declared

    def __getitem__(self, name: str) -> Step:
        return self.steps[name]

    def __contains__(self, name: object) -> bool:
        return name in self.steps


class Context(Generic[D]):
    """Everything a step may use during one turn; ``deps`` is the bot's own dependencies,
    built once per process."""

    def __init__(
        self,
        deps: D,
        session: Session,
        channel: str,
        user_id: str,
        locale: str,
        message_id: str = "",
    ) -> None:
        self.deps = deps
        self.session = session
        self.channel = channel
        self.user_id = user_id
        self.locale = locale
        # The platform's id of the message being handled: stable when the same message is
        # handled again after a crash or a Redis outage.
        self.message_id = message_id
        self.outbox: list[Outbound] = []
        # Written with the session once the replies are out (bot/core/writes.py).
        self.writes: list[Write] = []

    @property
    def identity(self) -> str:
        return f"{self.channel}:{self.user_id}"

    @property
    def data(self) -> dict[str, Any]:
        return self.session.data

    @property
    def memo(self) -> dict[str, Any]:
        """What the bot noted about this user beyond the conversation (:attr:`Session.memo
        <bot.core.sessions.Session.memo>`): survives resets to the menu, saved with the turn."""
        return self.session.memo

    def now(self) -> datetime:
        return self.deps.clock.now()

    def later(self, write: Write) -> None:
        """Send ``write`` with the turn's save instead of now: for what nobody in the turn
        needs the answer to (an audit entry)."""
        self.writes.append(write)

    @property
    def is_staff(self) -> bool:
        return self.identity in self.deps.settings.staff

    def t(self, key: str, **params: Any) -> str:
        return self.deps.catalog.t(self.locale, key, **params)

    def say(self, text: str) -> None:
        self.outbox.append(Text(text))

    def show(self, item: Image | Location) -> None:
        self.outbox.append(item)

    def set_locale(self, locale: str) -> None:
        self.locale = locale
        self.session.locale = locale
