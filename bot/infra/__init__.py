"""Infrastructure every layer may use: settings, the Redis connection (and the embedded
server), key names, logs and metrics."""
