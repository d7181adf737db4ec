"""The Telegram channel (:class:`TelegramChannel`), one module per idea: see
:mod:`channels.telegram.channel`."""

from channels.telegram.channel import TelegramChannel

__all__ = ["TelegramChannel"]
