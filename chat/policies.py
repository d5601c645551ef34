"""Who may do what: every permission rule of chat, in one place.

Plain functions over objects the caller has loaded. ``require_*`` raise the
error the edges turn into 403/404 (a non-member learns nothing: NotFound);
``can_*`` / ``is_*`` answer yes or no. Services call these; nothing else
decides permission.
"""

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import UserBlock
from chatsite.core.exceptions import Forbidden, Gone, Invalid, NotFound

from .models import ChatMember, ChatRoom, MessageType, Role, RoomType

ROLE_RANK = {Role.GUEST: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
MODERATOR_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def is_site_moderator(user) -> bool:
    """Staff with the moderation permission may moderate any room (Django admin)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("chat.moderate_chatroom")
    )


def membership(room: ChatRoom, user) -> ChatMember | None:
    """The user's active membership of ``room``, or None."""
    if user is None or not user.is_authenticated:
        return None
    return ChatMember.objects.filter(room=room, user=user, is_active=True).first()


def require_member(room: ChatRoom, user) -> ChatMember:
    """The caller's active membership; a non-member learns nothing (NotFound)."""
    member = membership(room, user)
    if member is None:
        raise NotFound("Room not found.", code="room_not_found")
    return member


def require_active_room(room: ChatRoom) -> None:
    if not room.is_active:
        raise Forbidden("This room has been deactivated.", code="room_inactive")


def require_moderator(room: ChatRoom, actor, target: ChatMember | None = None) -> ChatMember | None:
    """Owner or admin of ``room``, or a site moderator (returned as None: staff
    moderate every room whatever their own role in it).

    With ``target``: an admin cannot act on an owner or another admin, an owner
    not on another owner, and nobody on themselves through these actions.
    """
    if target is not None and target.user_id == getattr(actor, "pk", None):
        raise Invalid("You cannot do this to yourself.", code="self_action")
    if is_site_moderator(actor):
        return None
    member = require_member(room, actor)
    if member.role not in MODERATOR_ROLES:
        raise Forbidden("Only the room's owners and admins can do this.", code="not_room_admin")
    if target is not None and target.role in MODERATOR_ROLES and ROLE_RANK[member.role] <= ROLE_RANK[target.role]:
        raise Forbidden(f"A room {member.role} cannot act on a room {target.role}.", code="insufficient_role")
    return member


def require_owner(room: ChatRoom, actor) -> ChatMember | None:
    if is_site_moderator(actor):
        return None
    member = require_member(room, actor)
    if member.role != Role.OWNER:
        raise Forbidden("Only the room's owner can do this.", code="not_room_owner")
    return member


def can_moderate_messages(room: ChatRoom, actor, member: ChatMember | None = None) -> bool:
    """Owners and admins of the room, and site moderators, may delete, restore
    and announce. ``member``: the actor's membership if already loaded."""
    if is_site_moderator(actor):
        return True
    member = member if member is not None else membership(room, actor)
    return member is not None and member.role in MODERATOR_ROLES


def require_message_moderator(room: ChatRoom, actor, *, action: str, member: ChatMember | None = None) -> None:
    """As :func:`can_moderate_messages`; a non-member gets NotFound, a member 403."""
    if can_moderate_messages(room, actor, member):
        return
    if (member if member is not None else membership(room, actor)) is None:
        raise NotFound("Room not found.", code="room_not_found")
    raise Forbidden(f"Only the room's owners and admins can {action}.", code="not_room_admin")


def require_can_restore(message, actor, *, member: ChatMember | None, now) -> bool:
    """Who may restore a deleted message: room owners and admins and site
    moderators, any time (until the retention purge); its sender, for
    CHAT_UNDO_DELETE_SECONDS after deleting it themselves (an undo). True when
    it is the sender's own undo (not audited as moderation)."""
    undo = (
        member is not None
        and message.sender_id == actor.pk
        and message.deleted_by_id == actor.pk
        and message.deleted_at is not None
        and (now - message.deleted_at).total_seconds() <= settings.CHAT_UNDO_DELETE_SECONDS
    )
    if undo:
        return True
    if can_moderate_messages(message.room, actor, member):
        return False
    if member is None:
        raise NotFound("Room not found.", code="room_not_found")
    if message.sender_id == actor.pk and message.deleted_by_id == actor.pk:
        raise Forbidden(
            f"A deleted message can be brought back by its sender for {settings.CHAT_UNDO_DELETE_SECONDS} seconds; "
            "ask one of the room's admins.",
            code="undo_expired",
        )
    raise Forbidden("Only the room's owners and admins can restore messages.", code="not_room_admin")


def require_can_pin(room: ChatRoom, actor, member: ChatMember | None) -> None:
    """Room owners and admins and site moderators pin and unpin; in a direct
    room, either of the two."""
    if can_moderate_messages(room, actor, member):
        return
    if member is None:
        raise NotFound("Room not found.", code="room_not_found")
    if room.room_type == RoomType.DIRECT:
        return
    raise Forbidden("Only the room's owners and admins can pin messages.", code="not_room_admin")


def is_blocked_between(user_id, other_id) -> bool:
    """Either of the two blocked the other."""
    return UserBlock.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def direct_peer_id(room: ChatRoom, user_id):
    return room.direct_user_high_id if room.direct_user_low_id == user_id else room.direct_user_low_id


def require_can_post(room: ChatRoom, member: ChatMember) -> None:
    """Write in ``room``: it is active, the member is not muted, and in a direct
    room neither person blocked the other."""
    require_active_room(room)
    if member.muted_until is not None and member.muted_until > timezone.now():
        raise Forbidden(f"You are muted in this room until {member.muted_until.isoformat()}.", code="muted")
    if room.room_type == RoomType.DIRECT and is_blocked_between(member.user_id, direct_peer_id(room, member.user_id)):
        raise Forbidden("You cannot send messages to this user.", code="blocked")


def require_can_attach(member: ChatMember, attachment, *, forwarded: bool) -> None:
    """Post a file: guests cannot, and only one's own upload (a forward reuses the original's)."""
    if forwarded:
        return
    if member.role == Role.GUEST:
        raise Forbidden("Guests cannot post files.", code="guest_cannot_upload")
    if attachment.uploaded_by_id != member.user_id:
        raise NotFound("Attachment not found.", code="attachment_not_found")


def require_can_mention_room(room: ChatRoom, actor, member: ChatMember) -> None:
    """``@room`` / ``@all`` reach every member: room owners and admins (and site
    moderators) only."""
    if member.role in MODERATOR_ROLES or is_site_moderator(actor):
        return
    raise Forbidden(
        "Only the room's owners and admins can mention everyone with @room or @all.", code="mention_room_forbidden"
    )


def require_sender(message, actor) -> None:
    """Edit one's own (non-system) message."""
    if message.sender_id != actor.pk or message.message_type == MessageType.SYSTEM:
        raise Forbidden("You can only edit your own messages.", code="not_sender")


def require_invite_usable(invite) -> None:
    """Gone (410) naming the reason when an invite link cannot be used any more."""
    if invite.revoked_at is not None:
        raise Gone("This invite link was revoked.", code="invite_revoked")
    if invite.expires_at <= timezone.now():
        raise Gone("This invite link has expired.", code="invite_expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise Gone("This invite link has been used as many times as it allows.", code="invite_used_up")
    if not invite.room.is_active:
        raise Gone("The room of this invite link was deactivated.", code="room_inactive")
