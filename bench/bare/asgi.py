"""The Channels tutorial's chat consumer, unchanged in shape: join the room's
group, group_send every frame received, forward group messages to the socket.
No authentication, storage or encryption. Run by bench/run.py beside chatsite."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare.settings")

import django  # noqa: E402

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402


class BareChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = f"bare_{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "text": text_data})

    async def chat_message(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([re_path(r"^ws/bare/(?P<room>[\w-]+)/$", BareChatConsumer.as_asgi())])}
)
