"""Room use cases: create (group, direct, company, support), join, update, deactivate."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Company
from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound
from chatsite.core.text import without_bidi_controls

from ..events import log, wire
from ..events.render import room_payload
from ..models import ChatMember, ChatRoom, ModerationAction, Role, RoomType
from ..policies import (
    is_blocked_between,
    is_site_moderator,
    require_active_room,
    require_moderator,
    require_owner,
)
from .common import allocate_seq, audit, clean_text, post_system_message
from .member_rows import add_members, check_member_limit, log_member_change

User = get_user_model()
UNSET = object()
MAX_DESCRIPTION_LENGTH = 2000


def _clean_name(name) -> str:
    name = without_bidi_controls(clean_text(name, field="name", max_length=settings.CHAT_MAX_ROOM_NAME_LENGTH, required=True))
    if not name.strip():
        raise Invalid("name may not be blank.", code="name_required", fields={"name": ["Required."]})
    return name.strip()


@transaction.atomic
def room_create_group(
    *,
    creator,
    name: str,
    description: str = "",
    members=(),
    is_public: bool = False,
    company: Company | None = None,
) -> ChatRoom:
    """A group room owned by ``creator`` with ``members`` as members.

    Public groups belong to a company (the creator's by default) and anyone in
    it can find and join them; private groups are invite only. Emits
    ``member.added`` per member and a "created the room" system message.
    """
    name = _clean_name(name)
    description = clean_text(description, field="description", max_length=MAX_DESCRIPTION_LENGTH)
    company = company or creator.company
    if company is not None and creator.company_id != company.pk and not is_site_moderator(creator):
        raise Forbidden("You can only create rooms in your own company.", code="wrong_company")
    if is_public and company is None:
        raise Invalid("A public room needs a company.", code="public_needs_company")
    others = [u for u in dict.fromkeys(members) if u.pk != creator.pk]
    if any(not u.is_active for u in others):
        raise Invalid("Inactive users cannot be added.", code="user_inactive")
    if 1 + len(others) > settings.CHAT_MAX_ROOM_MEMBERS:
        raise Invalid(f"A room can have at most {settings.CHAT_MAX_ROOM_MEMBERS:,} members.", code="room_full")
    room = ChatRoom.objects.create(
        room_type=RoomType.GROUP,
        name=name,
        description=description,
        company=company,
        created_by=creator,
        is_public=is_public,
    )
    add_members(room, [(creator, Role.OWNER)] + [(u, Role.MEMBER) for u in others])
    post_system_message(room=room, actor=creator, text=f"{creator.name} created the room", event="room.created")
    return room


@transaction.atomic
def room_get_or_create_direct(*, user, other) -> tuple[ChatRoom, bool]:
    """The one direct room of ``user`` and ``other``: ``(room, created)``.

    Race-safe: the pair is unique in the database, so two concurrent calls
    give one room. Refused when either has blocked the other.
    """
    if other is None or not other.is_active:
        raise NotFound("User not found.", code="user_not_found")
    if other.pk == user.pk:
        raise Invalid("A direct room needs two different people.", code="direct_self")
    if is_blocked_between(user.pk, other.pk):
        raise Forbidden("You cannot start a conversation with this user.", code="blocked")
    low, high = sorted([user, other], key=lambda u: u.pk)
    # The pair is unique in the database: get_or_create's savepoint and retry
    # turn a concurrent twin into (its room, False).
    room, created = ChatRoom.objects.get_or_create(
        room_type=RoomType.DIRECT, direct_user_low=low, direct_user_high=high, defaults={"created_by": user}
    )
    if not created:
        return room, False
    add_members(room, [(user, Role.MEMBER), (other, Role.MEMBER)])
    return room, True


@transaction.atomic
def room_create_company(*, company: Company, creator, name: str, description: str = "") -> ChatRoom:
    """A company room: every active user of ``company`` is a member (and each new one joins)."""
    if not is_site_moderator(creator) and creator.company_id != company.pk:
        raise Forbidden("You can only create rooms in your own company.", code="wrong_company")
    name = _clean_name(name)
    description = clean_text(description, field="description", max_length=MAX_DESCRIPTION_LENGTH)
    users = list(User.objects.filter(company=company, is_active=True).order_by("date_joined"))
    if len(users) > settings.CHAT_MAX_ROOM_MEMBERS:
        raise Invalid(f"A room can have at most {settings.CHAT_MAX_ROOM_MEMBERS:,} members.", code="room_full")
    room = ChatRoom.objects.create(
        room_type=RoomType.COMPANY, name=name, description=description, company=company, created_by=creator
    )
    add_members(room, [(u, Role.OWNER if u.pk == creator.pk else Role.MEMBER) for u in users])
    post_system_message(room=room, actor=creator, text=f"{creator.name} created the room", event="room.created")
    return room


@transaction.atomic
def company_rooms_add_user(*, user) -> list[ChatMember]:
    """Add ``user`` to every active room of their company (called when they join it)."""
    added = []
    if user.company_id is None or not user.is_active:
        return added
    rooms = ChatRoom.objects.filter(company_id=user.company_id, room_type=RoomType.COMPANY, is_active=True)
    for room in rooms:
        if ChatMember.objects.filter(room=room, user=user).filter(Q(is_active=True) | Q(is_banned=True)).exists():
            continue
        added += add_members(room, [(user, Role.MEMBER)])
        post_system_message(room=room, actor=user, text=f"{user.name} joined", event="member.joined")
    return added


@transaction.atomic
def company_rooms_remove_user(*, user, company_id) -> int:
    """Take ``user`` out of the company rooms of a company they left. Emits ``member.removed``."""
    memberships = ChatMember.objects.select_related("room", "user").filter(
        user=user, is_active=True, room__company_id=company_id, room__room_type=RoomType.COMPANY
    )
    removed = 0
    for member in memberships:
        room = ChatRoom.objects.select_for_update().get(pk=member.room_id)
        member.is_active, member.left_at = False, timezone.now()
        member.save(update_fields=["is_active", "left_at", "updated_at"])
        log_member_change(room, member, wire.MEMBER_REMOVED, reason="left_company")
        post_system_message(room=room, actor=user, text=f"{user.name} left the company", event="member.left")
        removed += 1
    return removed


@transaction.atomic
def support_rooms_add_agent(*, user) -> list[ChatMember]:
    """A new support agent joins every open support room as an owner."""
    added = []
    if not user.is_active:
        return added
    rooms = ChatRoom.objects.filter(room_type=RoomType.SUPPORT, is_active=True).exclude(
        members__user=user, members__is_active=True
    )
    for room in rooms:
        room = ChatRoom.objects.select_for_update().get(pk=room.pk)
        if ChatMember.objects.filter(room=room, user=user, is_banned=True).exists():
            continue
        added += add_members(room, [(user, Role.OWNER)])
        post_system_message(room=room, actor=user, text=f"{user.name} joined", event="member.joined")
    return added


@transaction.atomic
def room_open_support(*, user) -> tuple[ChatRoom, bool]:
    """The user's open support room with every active support agent: ``(room, created)``.

    The person asking is a member, support agents are owners. One open support
    room per person, enforced by the database.
    """
    # One open support room per person (a partial unique constraint): a
    # concurrent twin gets the same room.
    room, created = ChatRoom.objects.get_or_create(
        room_type=RoomType.SUPPORT,
        support_requester=user,
        is_active=True,
        defaults={"name": f"Support: {user.name}", "company": user.company, "created_by": user},
    )
    if not created:
        return room, False
    agents = list(User.objects.filter(is_support_agent=True, is_active=True).exclude(pk=user.pk))
    role = Role.OWNER if user.is_support_agent else Role.MEMBER
    add_members(room, [(user, role)] + [(agent, Role.OWNER) for agent in agents])
    post_system_message(
        room=room, actor=user, text=f"{user.name} opened a support conversation", event="room.created"
    )
    return room, True


@transaction.atomic
def room_join(*, room: ChatRoom, user) -> ChatMember:
    """Join a public group of the user's own company."""
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    if not (room.room_type == RoomType.GROUP and room.is_public and room.company_id and room.company_id == user.company_id):
        raise NotFound("Room not found.", code="room_not_found")
    require_active_room(room)
    current = ChatMember.objects.filter(room=room, user=user).first()
    if current is not None and current.is_banned:
        raise Forbidden("You are banned from this room.", code="banned")
    if current is not None and current.is_active:
        return current
    check_member_limit(room, 1)
    (member,) = add_members(room, [(user, Role.MEMBER)])
    post_system_message(room=room, actor=user, text=f"{user.name} joined", event="member.joined")
    return member


def _announce_room(room: ChatRoom) -> None:
    seq = allocate_seq(room)
    log.append(room=room, seq=seq, kind=wire.ROOM_UPDATED, body={"room_data": room_payload(room)})


@transaction.atomic
def room_update(
    *, room: ChatRoom, actor, name=UNSET, description=UNSET, avatar=UNSET, is_public=UNSET, extra_metadata=UNSET
) -> ChatRoom:
    """Change a room's settings (owners and admins). Emits ``room.updated``."""
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    require_moderator(room, actor)
    require_active_room(room)
    if room.room_type == RoomType.DIRECT:
        raise Invalid("A direct room has no settings to change.", code="direct_room_fixed")
    changed = []
    if name is not UNSET:
        room.name = _clean_name(name)
        changed.append("name")
    if description is not UNSET:
        room.description = clean_text(description, field="description", max_length=MAX_DESCRIPTION_LENGTH)
        changed.append("description")
    if avatar is not UNSET:
        if avatar is not None and not avatar.is_image:
            raise Invalid("The avatar must be an image.", code="avatar_not_image")
        room.avatar = avatar
        changed.append("avatar")
    if is_public is not UNSET:
        if room.room_type != RoomType.GROUP:
            raise Invalid("Only group rooms can be public.", code="not_group")
        if is_public and room.company_id is None:
            raise Invalid("A public room needs a company.", code="public_needs_company")
        room.is_public = bool(is_public)
        changed.append("is_public")
    if extra_metadata is not UNSET:
        if not isinstance(extra_metadata, dict):
            raise Invalid("extra_metadata must be an object.", code="invalid")
        room.extra_metadata = extra_metadata
        changed.append("extra_metadata")
    if not changed:
        return room
    room.save(update_fields=changed + ["updated_at"])
    _announce_room(room)
    return room


@transaction.atomic
def room_deactivate(*, room: ChatRoom, actor, reason: str = "") -> ChatRoom:
    """Close a room (owner or site moderator): history stays, nothing new can be posted."""
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    require_owner(room, actor)
    if not room.is_active:
        return room
    room.is_active = False
    room.save(update_fields=["is_active", "updated_at"])
    _announce_room(room)
    audit(actor=actor, action=ModerationAction.ROOM_DEACTIVATE, room=room, reason=reason)
    return room


@transaction.atomic
def room_reactivate(*, room: ChatRoom, actor, reason: str = "") -> ChatRoom:
    room = ChatRoom.objects.select_for_update().get(pk=room.pk)
    require_owner(room, actor)
    if room.is_active:
        return room
    room.is_active = True
    try:
        with transaction.atomic():
            room.save(update_fields=["is_active", "updated_at"])
    except IntegrityError:
        raise Conflict("This person already has an open support room.", code="support_room_open") from None
    _announce_room(room)
    audit(actor=actor, action=ModerationAction.ROOM_REACTIVATE, room=room, reason=reason)
    return room
