"""Where a notification leads: the browser UI's address of a message.

static/chat/views/room.js routes ``#room/<room id>/<message id>`` to the room,
scrolled to the message and highlighted; emails put the site's address
(``CHAT_SITE_URL``) in front, pushes open it on the page's own origin.
"""


def message_path(*, room_id, message_id) -> str:
    return f"/#room/{room_id}/{message_id}"
