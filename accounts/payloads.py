"""The one JSON shape of a person, wherever one appears: REST bodies (the
directory, a message's sender, a member), WebSocket events and the event log.

A plain function (no DRF: it runs on the hot path of every message rendered);
accounts owns it because it is the User's shape, and chat renders people with it.
"""


def user_payload(user) -> dict | None:
    if user is None:
        return None
    return {"id": str(user.pk), "username": user.username, "display_name": user.name}
