"""Every chat write, one function per use case (see ARCHITECTURE.md: one write path).

REST viewsets, the WebSocket consumer, admin actions and template views call
these and nothing else to change chat state.
"""

from .attachments import attachment_create
from .common import require_moderator
from .members import (
    room_leave,
    room_member_add,
    room_member_ban,
    room_member_change_role,
    room_member_mute,
    room_member_remove,
    room_member_unban,
    room_member_unmute,
)
from .messages import (
    message_delete,
    message_edit,
    message_forward,
    message_get_for_member,
    message_restore,
    message_send,
    reaction_add,
    reaction_remove,
    room_mark_read,
    room_post_announcement,
)
from .rooms import (
    UNSET,
    company_rooms_add_user,
    company_rooms_remove_user,
    room_create_company,
    room_create_group,
    room_deactivate,
    room_get_or_create_direct,
    room_join,
    room_open_support,
    room_reactivate,
    room_update,
    support_rooms_add_agent,
)

__all__ = [
    "UNSET",
    "attachment_create",
    "require_moderator",
    "company_rooms_add_user",
    "company_rooms_remove_user",
    "message_delete",
    "message_edit",
    "message_forward",
    "message_get_for_member",
    "message_restore",
    "message_send",
    "reaction_add",
    "reaction_remove",
    "room_create_company",
    "room_create_group",
    "room_deactivate",
    "room_get_or_create_direct",
    "room_join",
    "room_leave",
    "room_mark_read",
    "room_member_add",
    "room_member_ban",
    "room_member_change_role",
    "room_member_mute",
    "room_member_remove",
    "room_member_unban",
    "room_member_unmute",
    "room_open_support",
    "room_post_announcement",
    "room_reactivate",
    "room_update",
    "support_rooms_add_agent",
]
