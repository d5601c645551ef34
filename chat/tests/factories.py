"""Chat objects made through the services, as the product makes them."""

from chat import services


def group_room(owner, *members, name="Team", **kwargs):
    return services.room_create_group(creator=owner, name=name, members=members, **kwargs)


def send(room, sender, content="hello", **kwargs):
    message, _created = services.message_send(room=room, sender=sender, content=content, **kwargs)
    return message
