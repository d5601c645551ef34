"""Membership use cases: add, remove, leave, change role, mute, unmute, ban, unban."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound

from ..events import wire
from ..models import ChatMember, ChatRoom, ModerationAction, Role, RoomType
from ..policies import (
    is_site_moderator,
    require_active_room,
    require_member,
    require_moderator,
)
from ..policies import membership as policies_membership
from .common import audit, post_system_message
from .member_rows import add_members, check_member_limit, log_member_change

ROLE_LABELS = {Role.OWNER: "an owner", Role.ADMIN: "an admin", Role.MEMBER: "a member", Role.GUEST: "a guest"}


def _lock_room(room: ChatRoom) -> ChatRoom:
    return ChatRoom.objects.select_for_update().get(pk=room.pk)


def _fixed_membership(room: ChatRoom) -> None:
    if room.room_type == RoomType.DIRECT:
        raise Invalid("A direct room always has exactly its two people.", code="direct_room_fixed")


def _target(room: ChatRoom, member: ChatMember) -> ChatMember:
    target = ChatMember.objects.select_related("user").filter(pk=member.pk, room=room).first()
    if target is None or not target.is_active:
        raise NotFound("Member not found.", code="member_not_found")
    return target


@transaction.atomic
def room_member_add(*, room: ChatRoom, actor, user, role: str = Role.MEMBER) -> ChatMember:
    """Add ``user`` to ``room``. Members add to group rooms, owners and admins to
    any (but direct); only the owner grants admin or owner. Emits ``member.added``
    and a system message."""
    room = _lock_room(room)
    _fixed_membership(room)
    require_active_room(room)
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}.", code="invalid_role")
    moderator = is_site_moderator(actor) and policies_membership(room, actor) is None
    actor_member = None if moderator else require_member(room, actor)
    if actor_member is not None:
        if actor_member.role == Role.GUEST:
            raise Forbidden("Guests cannot add members.", code="guest_cannot_add")
        if room.room_type != RoomType.GROUP and actor_member.role not in (Role.OWNER, Role.ADMIN):
            raise Forbidden("Only the room's owners and admins can add members here.", code="not_room_admin")
        if role in (Role.OWNER, Role.ADMIN) and actor_member.role != Role.OWNER:
            raise Forbidden("Only the room's owner can make admins or owners.", code="not_room_owner")
    if room.room_type == RoomType.COMPANY and user.company_id != room.company_id:
        raise Invalid("Only people of the company can join its company room.", code="wrong_company")
    if not user.is_active:
        raise Invalid("Inactive users cannot be added.", code="user_inactive")
    current = ChatMember.objects.filter(room=room, user=user).first()
    if current is not None and current.is_active:
        raise Conflict(f"{user.name} is already a member.", code="already_member")
    if current is not None and current.is_banned:
        raise Forbidden(f"{user.name} is banned from this room; unban them first.", code="user_banned")
    check_member_limit(room, 1)
    (member,) = add_members(room, [(user, role)])
    post_system_message(
        room=room, actor=actor, text=f"{actor.name} added {user.name}", event="member.added", user=user.pk
    )
    return member


@transaction.atomic
def room_member_remove(*, room: ChatRoom, actor, member: ChatMember, reason: str = "") -> ChatMember:
    """Remove a member (owners and admins, within their rank). Emits ``member.removed``."""
    room = _lock_room(room)
    _fixed_membership(room)
    target = _target(room, member)
    require_moderator(room, actor, target)
    target.is_active, target.left_at = False, timezone.now()
    target.save(update_fields=["is_active", "left_at", "updated_at"])
    log_member_change(room, target, wire.MEMBER_REMOVED, reason="removed")
    post_system_message(
        room=room,
        actor=actor,
        text=f"{actor.name} removed {target.user.name}",
        event="member.removed",
        user=target.user_id,
    )
    audit(actor=actor, action=ModerationAction.MEMBER_REMOVE, room=room, target_user=target.user, reason=reason)
    return target


@transaction.atomic
def room_leave(*, room: ChatRoom, user) -> ChatMember:
    """Leave a room. The last owner must hand ownership on first; company and
    direct rooms cannot be left."""
    room = _lock_room(room)
    member = require_member(room, user)
    _fixed_membership(room)
    if room.room_type == RoomType.COMPANY:
        raise Invalid("Everyone in the company is a member of its company rooms.", code="company_room_membership")
    if member.role == Role.OWNER and not (
        ChatMember.objects.filter(room=room, role=Role.OWNER, is_active=True).exclude(pk=member.pk).exists()
    ):
        raise Forbidden("Hand ownership to someone else before leaving.", code="last_owner")
    member.is_active, member.left_at = False, timezone.now()
    member.save(update_fields=["is_active", "left_at", "updated_at"])
    member.user = user
    log_member_change(room, member, wire.MEMBER_REMOVED, reason="left")
    post_system_message(room=room, actor=user, text=f"{user.name} left", event="member.left")
    return member


@transaction.atomic
def room_member_change_role(*, room: ChatRoom, actor, member: ChatMember, role: str) -> ChatMember:
    """Change a member's role. Owners and admins switch members and guests; only
    the owner grants or takes admin and owner. The last owner keeps the role."""
    room = _lock_room(room)
    _fixed_membership(room)
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}.", code="invalid_role")
    target = _target(room, member)
    if target.role == role:
        return target
    touches_admin = {target.role, role} & {Role.OWNER, Role.ADMIN}
    if target.user_id == actor.pk:
        actor_member = require_member(room, actor)
        if actor_member.role != Role.OWNER:
            raise Forbidden("Only the room's owner can change admin roles.", code="not_room_owner")
    elif touches_admin:
        if not (is_site_moderator(actor) and policies_membership(room, actor) is None):
            if require_member(room, actor).role != Role.OWNER:
                raise Forbidden("Only the room's owner can change admin roles.", code="not_room_owner")
    else:
        require_moderator(room, actor, target)
    if target.role == Role.OWNER and not (
        ChatMember.objects.filter(room=room, role=Role.OWNER, is_active=True).exclude(pk=target.pk).exists()
    ):
        raise Forbidden("A room needs at least one owner.", code="last_owner")
    old_role = target.role
    target.role = role
    target.save(update_fields=["role", "updated_at"])
    log_member_change(room, target, wire.MEMBER_UPDATED)
    post_system_message(
        room=room,
        actor=actor,
        text=f"{actor.name} made {target.user.name} {ROLE_LABELS[role]}",
        event="member.role_changed",
        user=target.user_id,
        role=role,
    )
    audit(
        actor=actor, action=ModerationAction.MEMBER_ROLE, room=room, target_user=target.user, old=old_role, new=role
    )
    return target


@transaction.atomic
def room_member_mute(
    *, room: ChatRoom, actor, member: ChatMember, until: datetime, reason: str = ""
) -> ChatMember:
    """Mute a member until ``until`` (they can read, not post). Emits ``member.updated``."""
    room = _lock_room(room)
    target = _target(room, member)
    require_moderator(room, actor, target)
    if until is None or timezone.is_naive(until) or until <= timezone.now():
        raise Invalid(
            "Mute until a time in the future (with a time zone).",
            code="invalid_mute_until",
            fields={"until": ["A future time with a time zone."]},
        )
    target.muted_until = until
    target.save(update_fields=["muted_until", "updated_at"])
    log_member_change(room, target, wire.MEMBER_UPDATED)
    audit(
        actor=actor,
        action=ModerationAction.MEMBER_MUTE,
        room=room,
        target_user=target.user,
        reason=reason,
        until=until.isoformat(),
    )
    return target


@transaction.atomic
def room_member_unmute(*, room: ChatRoom, actor, member: ChatMember, reason: str = "") -> ChatMember:
    room = _lock_room(room)
    target = _target(room, member)
    require_moderator(room, actor, target)
    if target.muted_until is None:
        return target
    target.muted_until = None
    target.save(update_fields=["muted_until", "updated_at"])
    log_member_change(room, target, wire.MEMBER_UPDATED)
    audit(actor=actor, action=ModerationAction.MEMBER_UNMUTE, room=room, target_user=target.user, reason=reason)
    return target


@transaction.atomic
def room_member_ban(*, room: ChatRoom, actor, member: ChatMember, reason: str = "") -> ChatMember:
    """Ban a member (or someone who left): removed at once, and cannot rejoin or be
    added until unbanned. Emits ``member.removed`` (``member.updated`` if they had left)."""
    room = _lock_room(room)
    _fixed_membership(room)
    target = ChatMember.objects.select_related("user").filter(pk=member.pk, room=room).first()
    if target is None or target.is_banned:
        raise NotFound("Member not found.", code="member_not_found")
    require_moderator(room, actor, target)
    was_active = target.is_active
    target.is_banned, target.is_active = True, False
    if was_active:
        target.left_at = timezone.now()
    target.save(update_fields=["is_banned", "is_active", "left_at", "updated_at"])
    # Someone who already left is banned too (they cannot rejoin); only a
    # present member is removed from the room's sockets.
    log_member_change(room, target, wire.MEMBER_REMOVED if was_active else wire.MEMBER_UPDATED, reason="banned")
    post_system_message(
        room=room, actor=actor, text=f"{target.user.name} was banned", event="member.banned", user=target.user_id
    )
    audit(actor=actor, action=ModerationAction.MEMBER_BAN, room=room, target_user=target.user, reason=reason)
    return target


@transaction.atomic
def room_member_unban(*, room: ChatRoom, actor, member: ChatMember, reason: str = "") -> ChatMember:
    """Lift a ban. The person is not a member again until added or rejoining."""
    room = _lock_room(room)
    target = ChatMember.objects.select_related("user").filter(pk=member.pk, room=room).first()
    if target is None or not target.is_banned:
        raise NotFound("No such ban.", code="ban_not_found")
    require_moderator(room, actor)
    target.is_banned = False
    target.save(update_fields=["is_banned", "updated_at"])
    log_member_change(room, target, wire.MEMBER_UPDATED)
    audit(actor=actor, action=ModerationAction.MEMBER_UNBAN, room=room, target_user=target.user, reason=reason)
    return target
