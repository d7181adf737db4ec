"""The Graph API's side of WhatsApp: its error codes and what we do about each, and the error a
refused call raises before the channel turns it into a :class:`~bot.errors.ChannelError`."""

from __future__ import annotations

# Graph API error codes (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes)
THROTTLED = {130429, 131056}  # throughput / pair rate limit: wait, then retry this recipient
THROUGHPUT = 130429  # the business number's messages per second (pauses the channel's bucket)
PAIR_RATE = 131056  # one business number to one user (pauses that user's bucket)
UNDELIVERABLE = 131026  # not a WhatsApp user, old app, or has not accepted the terms
TRANSIENT = 131000  # "something went wrong": retry a few times
AUTH = 190  # access token expired or invalid (HTTP 401)
UNKNOWN_OBJECT = 100  # e.g. a phone number id that does not exist or the token may not use
OUTSIDE_WINDOW = 131047  # more than 24 hours since the user last wrote: template only
# ChannelError codes of a send that may succeed if tried again later.
RETRYABLE = {"network", str(TRANSIENT), *(str(code) for code in THROTTLED)}

THROTTLE_ATTEMPTS = 6
TRANSIENT_ATTEMPTS = 3
BASE_DELAY = 1.0


class GraphError(Exception):
    """One refused Graph API call, before it is turned into a :class:`ChannelError`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"HTTP {status}, code {code}: {message}")
        self.status = status
        self.code = code
