"""The WhatsApp channel (:class:`WhatsAppChannel`), one module per idea: see
:mod:`channels.whatsapp.channel`."""

from channels.whatsapp.channel import WhatsAppChannel

__all__ = ["WhatsAppChannel"]
