"""``antrean worker``: an RQ worker with its scheduler, for reminders and broadcasts."""

from __future__ import annotations

from prometheus_client import start_http_server
from rq import SimpleWorker

from bot.infra.embedded import release_shared_server
from bot.infra.settings import Settings
from workers.periodic import ensure_all_ticking
from workers.queues import default_queue, queue_connection
from workers.runtime import Open, Runtime, installed


def run_worker(
    settings: Settings, open_app: Open, *, burst: bool = False, quiet: bool = False
) -> bool:
    """Work the queue until stopped (or, with ``burst``, until it is empty). ``open_app`` opens
    the app and the channels the jobs use (``bot.compose.open_app`` with the worker's role)."""
    connection, server = queue_connection(settings)
    # Start the channels now: a bad token fails here rather than in the first job, and the
    # first broadcast batch does not wait for aiogram to load.
    runtime = Runtime(open_app)
    try:
        # SimpleWorker: jobs run in this process, so channels and Redis clients stay connected
        # from one job to the next (see workers/runtime.py).
        if settings.worker_metrics_port is not None:
            # Reminder lateness and broadcast outcomes live in this process: serve them.
            start_http_server(settings.worker_metrics_port, addr=settings.http_host)
        queue = default_queue(connection)
        # Start each office's tick chain if no worker has yet (see workers/periodic.py).
        ensure_all_ticking(queue, (office.id for office in runtime.app().network))
        worker = SimpleWorker([queue], connection=connection)
        with installed(runtime):
            return worker.work(
                burst=burst,
                with_scheduler=True,
                logging_level="WARNING" if quiet else "INFO",
            )
    finally:
        runtime.close()
        connection.close()
        if server is not None:
            release_shared_server(server)
