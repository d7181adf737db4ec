"""The web app every ``antrean run`` process serves (:mod:`bot.web.app`): health, metrics, each
channel's webhook, and the staff pages (:mod:`bot.web.staff`)."""

from bot.web.app import APP_KEY, ENGINE_KEY, JOBS_KEY, build_web_app, freeze_heap, healthz, metrics

__all__ = [
    "APP_KEY",
    "ENGINE_KEY",
    "JOBS_KEY",
    "build_web_app",
    "freeze_heap",
    "healthz",
    "metrics",
]
