"""The dialog framework: steps, the engine that runs them, sessions, and the channel port.

Imports nothing of the booking domain, the channels, the handlers or the workers
(``make test`` checks it: see ``[tool.importlinter]`` in pyproject.toml)."""
