"""Invite links to group rooms: owners and admins make them (member or guest,
an expiry, an optional number of uses) and revoke them; a logged-in person who
opens one joins.

Lock order: the invite's row, then the room's (joining counts a use and adds
the member in one transaction; nothing locks them the other way round)."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chatsite.core.exceptions import Forbidden, Invalid, NotFound

from ..models import (
    INVITE_ROLES,
    ChatMember,
    ChatRoom,
    ModerationAction,
    RoomInvite,
    RoomType,
)
from ..policies import require_active_room, require_invite_usable, require_moderator
from ..selectors import live_invites
from .common import audit, post_system_message
from .member_rows import add_members, check_member_limit

MAX_USES_LIMIT = 10_000


@transaction.atomic
def invite_create(*, room: ChatRoom, actor, role: str, expires_in: timedelta, max_uses: int | None) -> RoomInvite:
    """A new link to ``room`` (owners and admins of a group room)."""
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    if room.room_type != RoomType.GROUP:
        raise Invalid("Only group rooms have invite links.", code="invites_group_only")
    require_moderator(room, actor)
    require_active_room(room)
    if role not in dict(INVITE_ROLES):
        raise Invalid("An invite makes a member or a guest.", code="invalid_role", fields={"role": ["member or guest."]})
    longest = timedelta(days=settings.CHAT_INVITE_MAX_DAYS)
    if not timedelta(minutes=5) <= expires_in <= longest:
        raise Invalid(
            f"An invite lasts between 5 minutes and {settings.CHAT_INVITE_MAX_DAYS} days.",
            code="invalid_expiry",
            fields={"expires_in": [f"Between 300 and {int(longest.total_seconds())} seconds."]},
        )
    if max_uses is not None and not 1 <= max_uses <= MAX_USES_LIMIT:
        raise Invalid(
            f"An invite is used between 1 and {MAX_USES_LIMIT:,} times (or without a limit).",
            code="invalid_max_uses",
            fields={"max_uses": [f"Between 1 and {MAX_USES_LIMIT:,}, or null."]},
        )
    if live_invites(room).count() >= settings.CHAT_MAX_ROOM_INVITES:
        raise Invalid(
            f"A room has at most {settings.CHAT_MAX_ROOM_INVITES} live invite links; revoke one first.",
            code="too_many_invites",
        )
    invite = RoomInvite.objects.create(
        room=room,
        code=secrets.token_urlsafe(16),
        role=role,
        created_by=actor,
        expires_at=timezone.now() + expires_in,
        max_uses=max_uses,
    )
    audit(actor=actor, action=ModerationAction.INVITE_CREATE, room=room, invite=invite.pk, role=role)
    return invite


@transaction.atomic
def invite_revoke(*, invite: RoomInvite, actor, reason: str = "") -> RoomInvite:
    """End a link at once (owners and admins of its room); revoking twice is a no-op."""
    invite = RoomInvite.objects.select_for_update().select_related("room").get(pk=invite.pk)
    require_moderator(invite.room, actor)
    if invite.revoked_at is None:
        invite.revoked_at, invite.revoked_by = timezone.now(), actor
        invite.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        audit(actor=actor, action=ModerationAction.INVITE_REVOKE, room=invite.room, reason=reason, invite=invite.pk)
    return invite


@transaction.atomic
def invite_accept(*, code: str, user) -> tuple[ChatMember, bool]:
    """Join the invite's room as its role; ``(membership, joined)``. Someone
    already in the room keeps their membership (and no use is counted)."""
    invite = RoomInvite.objects.select_for_update().filter(code=code).first()
    if invite is None:
        raise NotFound("This invite link does not exist.", code="invite_not_found")
    room = ChatRoom.objects.select_for_update().get(pk=invite.room_id)
    invite.room = room
    current = ChatMember.objects.filter(room=room, user=user).first()
    if current is not None and current.is_banned:
        raise Forbidden("You are banned from this room.", code="banned")
    if current is not None and current.is_active:
        return current, False
    require_invite_usable(invite)
    require_active_room(room)
    if not user.is_active:
        raise Forbidden("This account is inactive.", code="user_inactive")
    check_member_limit(room, 1)
    (member,) = add_members(room, [(user, invite.role)])
    invite.uses = F("uses") + 1
    invite.save(update_fields=["uses", "updated_at"])
    post_system_message(
        room=room, actor=user, text=f"{user.name} joined with an invite link", event="member.joined", invite=invite.pk
    )
    return member, True
