"""Every Redis key Antrean writes, in one place.

Keys that one script touches share a ``{hash tag}`` so that they land in one Redis Cluster slot:
``{u:<identity>}`` for everything of one user's session, ``{o:<office>}`` for everything of one
office's seat book.
"""

from __future__ import annotations

PREFIX = "antrean"

# Pub/sub channel (not a key): the seat scripts announce every change of a day-service's counts
# and every closing or reopening of a day on it (bot/booking/seats.py), for the per-process
# availability snapshots (bot/booking/snapshot.py). One channel for all offices: a Cluster
# delivers a PUBLISH to every node, so any node's subscribers hear every office.
SEATS_CHANNEL = f"{PREFIX}:seats"
# Pub/sub channel of every office's calls to a counter (call next, recall), published by the call
# scripts (bot/booking/calls.py) for the waiting-room displays (bot/web/display.py).
CALLS_CHANNEL = f"{PREFIX}:calls"


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes of ``key``: the text between its first ``{`` and the next
    ``}`` when not empty, else the whole key (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


class SessionKeys:
    """Keys of one user's conversation, all in the user's slot."""

    __slots__ = (
        "inbox",
        "lease",
        "outbox",
        "outbox_claim",
        "outbox_ids",
        "rate",
        "seen",
        "session",
        "survey",
    )

    def __init__(self, identity: str) -> None:
        tag = f"{PREFIX}:{{u:{identity}}}"
        # Every one of them expires (the lease, inbox and session carry user text).
        self.session = f"{tag}:session"
        # String "<token>|<expires ms>|<attempts>|<entry>": who handles the user's messages now.
        self.lease = f"{tag}:lease"
        # List of entries queued behind the lease holder (bot/core/sessions.py).
        self.inbox = f"{tag}:inbox"
        # Sorted set: message id -> when it may be forgotten (ms).
        self.seen = f"{tag}:seen"
        # Hash: the account's rate-limit bucket.
        self.rate = f"{tag}:rate"
        # Replies a turn could not send in its time, sent later by a worker (bot/core/outbox.py):
        # the list of entries in order, the set of the ids ever put, the one sender's claim.
        self.outbox = f"{tag}:outbox"
        self.outbox_ids = f"{tag}:outbox:ids"
        self.outbox_claim = f"{tag}:outbox:claim"
        # String "<office>:<booking id>": the satisfaction survey the user was last invited to
        # (bot/booking/survey.py), for typing /survei where the invitation's buttons are not.
        self.survey = f"{tag}:survey"

    def all(self) -> list[str]:
        return [
            self.session,
            self.lease,
            self.inbox,
            self.seen,
            self.rate,
            self.outbox,
            self.outbox_ids,
            self.outbox_claim,
            self.survey,
        ]


class OfficeKeys:
    """Keys of one office's seat book, all in the office's slot."""

    __slots__ = ("tag",)

    def __init__(self, office_id: str) -> None:
        self.tag = f"{PREFIX}:{{o:{office_id}}}"

    def day(self, day: str, service: str) -> str:
        """Hash of one office-day-service: cap:<win>, booked:<win>, held:<win>, the queue
        number plan (base:<win>, block:<win>, n:<win>, plan_end, overflow) or the older
        single counter seq (bot/booking/seats.py)."""
        return f"{self.tag}:day:{day}:{service}"

    def holds(self, day: str, service: str) -> str:
        """Sorted set of live holds of one office-day-service, scored by expiry (ms)."""
        return f"{self.tag}:holds:{day}:{service}"

    def hold_ids(self, day: str, service: str) -> str:
        """Hash: hold id -> its member in :meth:`holds` (the seat scripts keep it in step and
        derive it as ``<holds>:ids``), so a hold is found without a scan."""
        return f"{self.holds(day, service)}:ids"

    def booking(self, booking_id: str) -> str:
        return f"{self.tag}:booking:{booking_id}"

    def roster(self, day: str) -> str:
        """Sorted set of the ids of one day's bookings, every status, scored by call order
        (window start, then queue number: bot/booking/calls.py); kept by the seat scripts."""
        return f"{self.tag}:roster:{day}"

    def roster_version(self, day: str) -> str:
        """Counter: the version of one day's roster, raised by every script that changes one of
        its bookings (scripts derive it from :meth:`roster` by the suffix ``:version``)."""
        return f"{self.roster(day)}:version"

    def roster_changes(self, day: str) -> str:
        """Sorted set: id of a booking of the day -> the roster version that last changed it
        (suffix ``:changes`` of :meth:`roster`): what a reader that saw version v reads."""
        return f"{self.roster(day)}:changes"

    def waiting(self, day: str) -> str:
        """Sorted set of one day's checked-in bookings not called yet, scored like
        :meth:`roster`: what "call next" takes from."""
        return f"{self.tag}:waiting:{day}"

    def counters(self, day: str) -> str:
        """Hash: counter number -> id of the booking that counter called last and has not
        finished (served or no-show) on that day."""
        return f"{self.tag}:counters:{day}"

    def calls(self, day: str) -> str:
        """List of one day's latest calls to a counter, newest first (JSON entries, trimmed by
        the call scripts): what a waiting-room display shows on connect."""
        return f"{self.tag}:calls:{day}"

    def ikm(self, day: str) -> str:
        """Hash of one day's satisfaction survey answers (bot/booking/survey.py): ``n`` the
        respondents, ``u1``..``u9`` the sum of each element's scores. Expires with
        :meth:`ikm_comments` (SURVEY_RETENTION after the day)."""
        return f"{self.tag}:ikm:{day}"

    def ikm_comments(self, day: str) -> str:
        """List of one day's survey comments, newest first, capped (JSON ``{"at", "text"}``)."""
        return f"{self.tag}:ikm-comments:{day}"

    @property
    def niks(self) -> str:
        """Hash: NIK hash -> id of that NIK's active booking."""
        return f"{self.tag}:niks"

    def account(self, identity: str) -> str:
        """Set of the active booking ids of one account (channel identity)."""
        return f"{self.tag}:account:{identity}"

    @property
    def rosters_backfilled(self) -> str:
        """Set once the office's active bookings are all in their day's roster (the one-off
        backfill of bookings made before rosters existed: bot/booking/calls.py)."""
        return f"{self.tag}:rosters_backfilled"

    @property
    def claims_backfilled(self) -> str:
        """Set once the office's active bookings all have their account's claim (the one-off
        backfill of bookings made before account claims existed: bot/booking/counter.py)."""
        return f"{self.tag}:claims_backfilled"

    @property
    def reminders(self) -> str:
        """Reminders to send, a sorted set scored by when each is due (ms): members
        ``<booking id>|<day>|<window>|<offset minutes>``, added by the booking scripts."""
        return f"{self.tag}:reminders"

    def reminded(self, booking_id: str, day: str, window: str, offset: int) -> str:
        """Sent-marker of one reminder of one booking at one time (a reschedule makes a new one)."""
        return f"{self.tag}:reminded:{booking_id}:{day}:{window}:{offset}"

    @property
    def closed(self) -> str:
        """Set of days closed by staff."""
        return f"{self.tag}:closed"

    @property
    def closures(self) -> str:
        """Hash: day closed by staff -> why and by whom (JSON), kept beside :attr:`closed`."""
        return f"{self.tag}:closures"


class NikKeys:
    """Keys of one NIK (by its keyed hash) across every office, all in the NIK's own slot: the
    one-active-booking-per-NIK registry and the no-show strikes follow a person, not an office."""

    __slots__ = ("active", "blocked", "strikes")

    def __init__(self, nik_hash: str) -> None:
        tag = f"{PREFIX}:{{nik:{nik_hash}}}"
        self.active = f"{tag}:active"
        self.strikes = f"{tag}:strikes"
        self.blocked = f"{tag}:blocked"


class AccountKeys:
    """Keys of one account (channel identity) across every office, in the account's own slot
    ``{acct:<identity>}``: the per-account cap on active bookings holds across the network, so it
    cannot live in an office's slot (bot/booking/counter.py, AccountClaims)."""

    __slots__ = ("bookings",)

    def __init__(self, identity: str) -> None:
        # Hash: "<office>|<booking id>" -> when claimed (ms): the account's active bookings (and
        # bookings under way) in every office.
        self.bookings = f"{PREFIX}:{{acct:{identity}}}:bookings"


class StaffKeys:
    """Keys of one office's staff work that no seat-book script touches, in their own slot."""

    __slots__ = ("audit", "dayend_lock", "tag")

    def __init__(self, office_id: str) -> None:
        self.tag = f"{PREFIX}:{{staff:{office_id}}}"
        self.audit = f"{self.tag}:audit"
        self.dayend_lock = f"{self.tag}:dayend-lock"

    def closed_notice(self, booking_id: str) -> str:
        """Sent-marker of the notice that a booking's day was closed."""
        return f"{self.tag}:closed-notice:{booking_id}"

    def reopened_notice(self, booking_id: str) -> str:
        """Sent-marker of the notice that a closed day of a cancelled booking opened again."""
        return f"{self.tag}:reopened-notice:{booking_id}"

    def admitted_notice(self, day: str, service: str, account: str) -> str:
        """Sent-marker of the notice that a pre-queued account was admitted."""
        return f"{self.tag}:admitted-notice:{day}:{service}:{account}"

    def called_notice(self, booking_id: str, calls: int) -> str:
        """Sent-marker of the chat notice of a booking's ``calls``-th call to a counter."""
        return f"{self.tag}:called-notice:{booking_id}:{calls}"

    def served_notice(self, booking_id: str) -> str:
        """Sent-marker of the thank-you and survey invitation after a booking was served."""
        return f"{self.tag}:served-notice:{booking_id}"

    def ahead_notice(self, booking_id: str) -> str:
        """Sent-marker of the chat notice that few numbers are ahead of a booking (once)."""
        return f"{self.tag}:ahead-notice:{booking_id}"

    def signin(self, token_hash: str) -> str:
        """String: a staff sign-in link's grant (JSON), by the SHA-256 of its token; once used,
        the same prefixed with ``used|`` until it expires (bot/booking/staff_access.py)."""
        return f"{self.tag}:signin:{token_hash}"

    def web_session(self, session_hash: str) -> str:
        """Hash: a staff member's signed-in web session, by the SHA-256 of its cookie's id."""
        return f"{self.tag}:web-session:{session_hash}"


def prequeue(office: OfficeKeys, day: str, service: str) -> str:
    """Sorted set of the accounts waiting for ``day``'s quota of ``service``, by a random score
    (in the office's slot: admission holds seats in the same script)."""
    return f"{office.tag}:prequeue:{day}:{service}"


def admitted(office: OfficeKeys, day: str, service: str) -> str:
    """Hash of the pre-queue's outcome: account -> "<hold id>|<window>" or "full"; field "@done"
    is set once admission ran."""
    return f"{office.tag}:admitted:{day}:{service}"


class ChannelKeys:
    """Keys a channel keeps about one user of its platform, in the user's slot: the same
    ``{u:<channel>:<user id>}`` tag as the session's :class:`SessionKeys`, so a script may touch
    both."""

    __slots__ = ("choices", "delivery", "lastin", "pace", "pages", "tag", "undeliverable")

    def __init__(self, channel: str, user_id: str) -> None:
        self.tag = f"{PREFIX}:{{u:{channel}:{user_id}}}"
        # Hash: the user's pacing bucket (bot/core/pacing.py).
        self.pace = f"{self.tag}:pace"
        # Telegram: the paged option list of the chat's latest keyboard (JSON).
        self.pages = f"{self.tag}:pages"
        # WhatsApp: the latest long option list, for its "more" row (JSON).
        self.choices = f"{self.tag}:choices"
        # WhatsApp: when the user last wrote (ms): the 24-hour window for free-form messages.
        self.lastin = f"{self.tag}:lastin"
        # WhatsApp: set when Meta said the number cannot get messages (code 131026).
        self.undeliverable = f"{self.tag}:undeliverable"
        # WhatsApp: hash of message id -> the furthest delivery state Meta reported.
        self.delivery = f"{self.tag}:delivery"

    def fallback(self, message_id: str) -> str:
        """WhatsApp: the template to send if Meta refuses free-form message ``message_id`` late."""
        return f"{self.tag}:fallback:{message_id}"

    def fallback_sent(self, first_id: str) -> str:
        """WhatsApp: the claim that one notice's fallback template (``first_id``: its first
        message) was sent."""
        return f"{self.fallback(first_id)}:sent"


def channel_pace(channel: str) -> str:
    """Hash: the pacing bucket of one channel's whole throughput, in a slot of its own."""
    return f"{PREFIX}:{{pace:{channel}}}"


class BroadcastKeys:
    """Keys of one broadcast, all in the broadcast's slot (workers/broadcasts/)."""

    __slots__ = ("batches", "done", "meta", "state")

    def __init__(self, broadcast_id: str) -> None:
        tag = f"{PREFIX}:{{b:{broadcast_id}}}"
        # Hash: status, texts, starter, audience, counts, batches and batches_left, markers.
        self.meta = f"{tag}:meta"
        # Hash: recipient account -> pending | sending:<attempt> | sent | failed | ...
        self.state = f"{tag}:state"
        # Hash: batch number -> JSON list of [account, locale].
        self.batches = f"{tag}:batches"
        # Set of the finished batch numbers.
        self.done = f"{tag}:done"

    def all(self) -> list[str]:
        return [self.meta, self.state, self.batches, self.done]
