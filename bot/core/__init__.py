"""The dialog framework: steps, the engine that runs them, sessions, and the channel port.

Imports nothing of the booking domain, the channels, the handlers or the workers
(``make test`` checks it: see ``[tool.importlinter]`` in pyproject.toml).

A bot of one's own needs only what is exported here (``examples/clinic.py`` is one): its steps
(each a :class:`Step`: ``ask`` returns a :class:`Prompt`, ``answer`` gets a :class:`Reply` and
returns the name of the next step, declared in its ``goes_to``), registered in :class:`Steps`;
its messages, a :class:`Catalog` over the framework's own; its dependencies (:class:`Deps`, or
a class of its own with the :class:`Services` members); and an :class:`Engine` over channels.
"""

from bot.core.channel import Channel, Outcome, PacedChannel
from bot.core.chat import chat
from bot.core.clock import Clock, ManualClock, SystemClock
from bot.core.deps import Deps
from bot.core.dialog import (
    ANYWHERE,
    CANCEL,
    HELP,
    LANGUAGE,
    MENU,
    RESUME,
    TO_MENU,
    WORDS,
    Context,
    Goto,
    Prompt,
    Reply,
    Services,
    Step,
    Steps,
    UnknownStep,
)
from bot.core.engine import Engine
from bot.core.i18n import Catalog
from bot.core.jobs import Jobs
from bot.core.messages import Choices, Image, Inbound, Option, Outbound, Text
from bot.core.sessions import SessionStore
from bot.core.writes import Write
from bot.errors import InvalidInput

__all__ = [
    "ANYWHERE",
    "CANCEL",
    "HELP",
    "LANGUAGE",
    "MENU",
    "RESUME",
    "TO_MENU",
    "WORDS",
    "Catalog",
    "Channel",
    "Choices",
    "Clock",
    "Context",
    "Deps",
    "Engine",
    "Goto",
    "Image",
    "Inbound",
    "InvalidInput",
    "Jobs",
    "ManualClock",
    "Option",
    "Outbound",
    "Outcome",
    "PacedChannel",
    "Prompt",
    "Reply",
    "Services",
    "SessionStore",
    "Step",
    "Steps",
    "SystemClock",
    "Text",
    "UnknownStep",
    "Write",
    "chat",
]
