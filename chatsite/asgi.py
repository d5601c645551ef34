"""ASGI entry point: HTTP through Django, WebSocket /ws/chat/ through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.realtime.routing import websocket_urlpatterns  # noqa: E402
from chat.realtime.ws_auth import ChatAuthMiddleware  # noqa: E402
from accounts.ticket_asgi import TicketEndpoint  # noqa: E402
from chatsite.core.overload import HttpShedding  # noqa: E402

application = ProtocolTypeRouter(
    {
        # A process past its budget answers 503 "overloaded" at once (chatsite/core/overload.py);
        # WebSocket tickets for a bearer token are issued without Django's stack (accounts/ticket_asgi.py).
        "http": HttpShedding(TicketEndpoint(django_asgi_app)),
        "websocket": ChatAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)

if os.environ.get("CHAT_GC_TUNING", "1") != "0":
    from chatsite.gc_tuning import tune  # noqa: E402

    tune()
