"""Membership rows and their events, shared by the room and member use cases:
insert or reactivate members (``member.added``), log a member change, and the
room's member limit."""

from django.conf import settings
from django.utils import timezone

from chatsite.core.exceptions import Invalid

from ..events import log, wire
from ..events.render import member_payload
from ..models import ChatMember, ChatRoom
from .common import allocate_seq


def add_members(room: ChatRoom, users_and_roles: list[tuple], *, now=None) -> list[ChatMember]:
    """Insert or reactivate memberships and log one ``member.added`` each."""
    now = now or timezone.now()
    if not users_and_roles:
        return []
    first_seq = allocate_seq(room, len(users_and_roles))
    existing = {
        m.user_id: m for m in ChatMember.objects.filter(room=room, user__in=[u.pk for u, _ in users_and_roles])
    }
    members = []
    for offset, (user, role) in enumerate(users_and_roles):
        member = existing.get(user.pk)
        if member is None:
            member = ChatMember(room=room, user=user, role=role, joined_at=now, last_read_seq=0)
            member.save(force_insert=True)
        else:
            member.role, member.is_active, member.is_banned = role, True, False
            member.joined_at, member.left_at = now, None
            member.save(update_fields=["role", "is_active", "is_banned", "joined_at", "left_at", "updated_at"])
        member.user = user
        log.append(
            room=room,
            seq=first_seq + offset,
            kind=wire.MEMBER_ADDED,
            body={"member": member_payload(member)},
            added_user_ids=(user.pk,),
        )
        members.append(member)
    return members


def check_member_limit(room: ChatRoom, adding: int) -> None:
    current = ChatMember.objects.filter(room=room, is_active=True).count()
    if current + adding > settings.CHAT_MAX_ROOM_MEMBERS:
        raise Invalid(
            f"A room can have at most {settings.CHAT_MAX_ROOM_MEMBERS:,} members.",
            code="room_full",
            fields={"members": [f"At most {settings.CHAT_MAX_ROOM_MEMBERS:,} members."]},
        )


def log_member_change(room: ChatRoom, member: ChatMember, kind: str, **extra) -> None:
    seq = allocate_seq(room)
    log.append(
        room=room,
        seq=seq,
        kind=kind,
        body={"member": member_payload(member), **extra},
        removed_user_ids=(member.user_id,) if kind == wire.MEMBER_REMOVED else (),
    )
