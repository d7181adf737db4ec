"""What a process counts, for Prometheus (prometheus-client): ``GET /metrics`` on the web app,
and on ``antrean worker --metrics-port N`` for workers.

Labels never carry an identity, a NIK or a token: channels, outcomes, codes and office-days only.
Offices come from the configuration (a bounded set, known at start-up), days from the bookable
horizon; nothing a user typed is ever a label.

The bound on series: ``antrean_seats_left`` has one per office, service and bookable day (the days
that leave the horizon are dropped at each scrape), so at most offices x services x horizon days
(150 offices of 3 services with a 14-day horizon: 6,300); the counters and histograms with an
``office`` label have one set per office (and ``""``). A scrape reads every office's seats in one
pipelined round trip (bot/booking/availability.py, read_seats_left).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPDATES = Counter("antrean_updates_total", "Messages received from users", ["channel", "outcome"])
TURN_SECONDS = Histogram(
    "antrean_turn_seconds",
    "Time to handle one message and send the answer, by channel and office "
    "('' before one is chosen in a network)",
    ["channel", "office"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BOOKING_EVENTS = Counter(
    "antrean_booking_events_total",
    "Bookings made, cancelled, rescheduled, checked in and missed, by office",
    ["event", "office"],
)
SENDS = Counter("antrean_sends_total", "Answers sent to platforms", ["channel", "result"])
PLATFORM_ERRORS = Counter(
    "antrean_platform_errors_total", "Errors platforms answered, by code", ["channel", "code"]
)
BUCKET_WAIT = Histogram(
    "antrean_bucket_wait_seconds",
    "Time spent waiting for a pacing token",
    ["bucket"],
    buckets=(0, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
)
REMINDER_LATENESS = Histogram(
    "antrean_reminder_lateness_seconds",
    "How long after it was due a reminder went out",
    buckets=(1, 5, 15, 60, 300, 900, 3600),
)
BROADCAST_SENDS = Counter(
    "antrean_broadcast_recipients_total", "Broadcast recipients handled, by outcome", ["outcome"]
)
SEATS_LEFT = Gauge(
    "antrean_seats_left",
    "Free seats of each bookable day, by office and service (read at scrape, one round trip)",
    ["office", "day", "service"],
)
QUEUE_DEPTH = Gauge("antrean_queue_depth", "Jobs waiting in the RQ queue (read at scrape)")

# Audit actions that are booking events, and the event each counts as.
BOOKING_ACTIONS = {
    "booked": "booked",
    "cancelled": "cancelled",
    "rescheduled": "rescheduled",
    "checkin": "checked_in",
    "no_show": "no_show",
}
