# Antrean web process (and, with `antrean worker` as the command, an RQ worker).
# Build: docker build -t antrean .   Run: see compose.yaml, which sets the Redis URL and secrets.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user without a login shell: the bot never needs root, and a webhook-facing process
# should not have it.
RUN groupadd --system antrean \
    && useradd --system --gid antrean --home-dir /app --shell /usr/sbin/nologin antrean

WORKDIR /app
# Only what the package needs (see .dockerignore); the runtime dependencies, no dev extras.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY channels ./channels
COPY handlers ./handlers
COPY workers ./workers
RUN pip install . && rm -rf /app/build /app/*.egg-info

# ANTREAN_VAR_DIR holds QR images and, in development only, a generated key: keep it writable.
RUN mkdir -p /app/var && chown antrean:antrean /app/var
USER antrean

# Listen on every interface of the container; the proxy (or compose network) is the way in.
ENV ANTREAN_HTTP_HOST=0.0.0.0 \
    ANTREAN_HTTP_PORT=8080 \
    ANTREAN_VAR_DIR=/app/var
EXPOSE 8080

# python + urllib rather than curl: the slim image has no curl, and one fewer package to patch.
# /healthz answers 503 while Redis is unreachable, which urlopen raises on.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ANTREAN_HTTP_PORT', '8080'), timeout=4)"]

# `antrean run` stops gracefully on SIGTERM (what `docker stop` sends): requests in flight finish.
CMD ["antrean", "run"]
