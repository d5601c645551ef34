"""The browser tests' fixtures — a live daphne (module-scoped), Chromium, a
logged-in page, code run on the server's side — defined in test_ui.py and
shared here with every chat/tests/test_ui_*.py."""

from chat.tests.test_ui import (  # noqa: F401 - fixtures
    async_unsafe_allowed,
    browser,
    open_page,
    restartable_server,
    server,
    server_side,
)
