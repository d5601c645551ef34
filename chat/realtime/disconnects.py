"""A client that went away, told apart from a server part that broke.

Writing to a socket whose client just vanished raises the ASGI server's own
error: autobahn's ``Disconnected`` under daphne, uvicorn's
``ClientDisconnected`` (an ``OSError``) under uvicorn. Neither is a fault of
chatsite or of Redis, and neither may be logged as one (or taken for a lost
channel layer).
"""

import logging

logger = logging.getLogger(__name__)


def _gone_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    try:
        from autobahn.exception import Disconnected

        found.append(Disconnected)
    except ImportError:  # pragma: no cover - daphne brings autobahn
        pass
    try:
        from uvicorn.protocols.utils import ClientDisconnected

        found.append(ClientDisconnected)
    except ImportError:  # pragma: no cover - uvicorn is optional
        pass
    return tuple(found)


GONE = _gone_types()


def client_gone(error: BaseException) -> bool:
    """Whether ``error`` only says the client is no longer there."""
    return bool(GONE) and isinstance(error, GONE)
