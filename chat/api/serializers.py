"""Input serializers validate requests; output serializers describe (for the
OpenAPI schema) and render the one JSON shape of each object, from
chat.events.render — the same functions the WebSocket events use."""


from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from accounts.serializers import UserSerializer
from chat import selectors
from chat.events import render as payloads
from chat.models import (
    INVITE_ROLES,
    MentionKind,
    MessageType,
    NotifyLevel,
    Role,
    RoomType,
    default_notify_level,
)
from chatsite.core import json_values


# --- Output ------------------------------------------------------------------
class PreviewSerializer(serializers.Serializer):
    url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class PreviewsSerializer(serializers.Serializer):
    content_type = serializers.CharField(help_text="image/webp")
    small = PreviewSerializer(help_text="At most 320 px on the long side (never upscaled).")
    large = PreviewSerializer(help_text="At most 1280 px on the long side (never upscaled).")


class AttachmentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    url = serializers.CharField()
    previews = PreviewsSerializer(
        allow_null=True, help_text="Thumbnails (images, and a PDF's first page once its job made it); null when there are none (yet)."
    )

    def to_representation(self, instance):
        return payloads.attachment_payload(instance)


class ReplyPreviewSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    sender = UserSerializer(allow_null=True)
    content = serializers.CharField(allow_null=True)
    is_deleted = serializers.BooleanField()


class ReactionSummarySerializer(serializers.Serializer):
    reaction = serializers.CharField()
    count = serializers.IntegerField()
    user_ids = serializers.ListField(child=serializers.UUIDField())


class MentionEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MentionKind.choices, help_text="user: @name; here: @here (online then); room: @room/@all (everyone).")
    user_id = serializers.UUIDField(allow_null=True, help_text="Null for kind room: every member.")


class ThreadSummarySerializer(serializers.Serializer):
    reply_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    participants = UserSerializer(many=True, help_text="Up to three recent repliers.")


class MessageListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        return payloads.message_payloads(list(data))


class PinSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    pinned_by = UserSerializer(allow_null=True)
    pinned_at = serializers.DateTimeField()
    message = serializers.DictField(help_text="The message, as everywhere (MessageSerializer).")


class PinStateSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    pinned = serializers.BooleanField()


class SavedStateSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()
    saved = serializers.BooleanField()


class SavedMessageSerializer(serializers.Serializer):
    saved_at = serializers.DateTimeField()
    message = serializers.DictField(help_text="The message, as everywhere (MessageSerializer).")


class SavedQuerySerializer(serializers.Serializer):
    before = serializers.DateTimeField(required=False, help_text="saved_at of the last item of the previous page.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class InviteSerializer(serializers.Serializer):
    """An invite link, as its room's owners and admins see it."""

    id = serializers.UUIDField()
    code = serializers.CharField()
    url = serializers.CharField(help_text="The page that joins whoever opens it (path; prefix the site's address).")
    role = serializers.ChoiceField(choices=INVITE_ROLES)
    expires_at = serializers.DateTimeField()
    max_uses = serializers.IntegerField(allow_null=True)
    uses = serializers.IntegerField()
    created_by = UserSerializer(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, instance):
        return payloads.invite_payload(instance, url=reverse("invite", args=[instance.code]))


class InviteCreateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=INVITE_ROLES, default=Role.MEMBER)
    expires_in = serializers.IntegerField(
        min_value=1, max_value=10**9, default=7 * 86400, help_text="Seconds until it expires (5 minutes to CHAT_INVITE_MAX_DAYS)."
    )
    max_uses = serializers.IntegerField(min_value=1, max_value=10**9, required=False, allow_null=True, default=None)


class InvitePreviewSerializer(serializers.Serializer):
    """What the person opening a link learns before joining."""

    room = serializers.DictField(help_text="id, name, description, member_count")
    role = serializers.ChoiceField(choices=INVITE_ROLES)
    expires_at = serializers.DateTimeField()
    already_member = serializers.BooleanField()


class ForwardedSerializer(serializers.Serializer):
    sender = UserSerializer(allow_null=True)
    room = serializers.UUIDField(help_text="The original's room (its name is yours to know only if you are a member).")


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    room = serializers.UUIDField()
    seq = serializers.IntegerField()
    sender = UserSerializer(allow_null=True)
    message_type = serializers.ChoiceField(choices=MessageType.choices)
    content = serializers.CharField(allow_null=True, help_text="The source as typed (Markdown): what an edit starts from.")
    html = serializers.CharField(
        allow_null=True,
        help_text="The content formatted and sanitized by the server (docs/api.md, Formatting); null when formatting adds nothing (show content as text), when deleted and for system messages.",
    )
    forwarded = ForwardedSerializer(allow_null=True, help_text="A forwarded message: who wrote the original, and in which room.")
    mentions = MentionEntrySerializer(many=True, help_text="Resolved by the server when the message was stored or edited.")
    extra_metadata = serializers.DictField()
    reply_to = ReplyPreviewSerializer(allow_null=True)
    forwarded_from = serializers.UUIDField(allow_null=True)
    attachment = AttachmentSerializer(allow_null=True)
    client_msg_id = serializers.CharField(allow_null=True)
    is_edited = serializers.BooleanField()
    edited_at = serializers.DateTimeField(allow_null=True)
    is_deleted = serializers.BooleanField()
    deleted_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    reactions = ReactionSummarySerializer(many=True)
    thread = serializers.UUIDField(allow_null=True, help_text="A reply in a thread: the root's id.")
    also_in_room = serializers.BooleanField(help_text="A reply also shown in the room.")
    thread_summary = ThreadSummarySerializer(allow_null=True, help_text="A root with replies: its thread's summary.")

    class Meta:
        list_serializer_class = MessageListSerializer

    def to_representation(self, instance):
        return payloads.message_payload(instance)


class MemberSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    room = serializers.UUIDField()
    user = UserSerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    is_active = serializers.BooleanField()
    is_banned = serializers.BooleanField()
    muted_until = serializers.DateTimeField(allow_null=True)
    last_read_seq = serializers.IntegerField()
    joined_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        return payloads.member_payload(instance)


class RoomSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    room_type = serializers.ChoiceField(choices=RoomType.choices)
    name = serializers.CharField()
    description = serializers.CharField()
    avatar = AttachmentSerializer(allow_null=True)
    company = serializers.UUIDField(allow_null=True)
    created_by = serializers.UUIDField(allow_null=True)
    is_active = serializers.BooleanField()
    is_public = serializers.BooleanField()
    extra_metadata = serializers.DictField()
    seq = serializers.IntegerField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, instance):
        return payloads.room_payload(instance)


class DirectoryRoomSerializer(RoomSerializer):
    """A public room in the directory: the room and how many people are in it."""

    member_count = serializers.IntegerField()

    def to_representation(self, instance):
        return {**payloads.room_payload(instance), "member_count": instance.member_total}


class DirectoryQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class RoomListItemSerializer(RoomSerializer):
    """A room in the caller's room list: the room plus the caller's view of it."""

    my_role = serializers.ChoiceField(choices=Role.choices)
    unread_count = serializers.IntegerField()
    mention_count = serializers.IntegerField(
        help_text="Unread messages that mention me; in a direct room that is not muted, every unread message."
    )
    notify_level = serializers.ChoiceField(choices=NotifyLevel.choices, help_text="My level for this room (the default unless I chose one).")
    notify_level_is_default = serializers.BooleanField()
    notifications_muted = serializers.BooleanField()
    member_count = serializers.IntegerField()
    last_read_seq = serializers.IntegerField()
    last_message = MessageSerializer(allow_null=True)
    peer = UserSerializer(allow_null=True, help_text="Direct rooms: the other person.")

    def to_representation(self, instance):
        last = self.context.get("last_messages", {}).get(instance.pk)
        peer = None
        if instance.room_type == "direct":
            me = self.context["request"].user.pk
            peer = instance.direct_user_high if instance.direct_user_low_id == me else instance.direct_user_low
        return {
            **payloads.room_payload(instance),
            "my_role": instance.my_role,
            "unread_count": instance.unread_count,
            "mention_count": selectors.mention_count_of(
                room_type=instance.room_type,
                muted=instance.my_notifications_muted,
                unread_count=instance.unread_count,
                mentions=instance.unread_mentions,
            ),
            "notify_level": instance.my_notify_level or default_notify_level(instance.room_type),
            "notify_level_is_default": not instance.my_notify_level,
            "notifications_muted": instance.my_notifications_muted,
            "member_count": instance.member_count,
            "last_read_seq": instance.my_last_read_seq,
            "last_message": self.context["rendered_last"].get(last.pk) if last is not None else None,
            "peer": payloads.user_payload(peer),
        }


class PresenceSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["online", "away", "offline"])


class MemberListQuerySerializer(serializers.Serializer):
    include = serializers.ChoiceField(choices=["banned"], required=False, help_text="banned: also list banned people (owners and admins).")


class ReactionCountSerializer(serializers.Serializer):
    reaction = serializers.CharField()
    count = serializers.IntegerField()
    me = serializers.BooleanField()
    user_ids = serializers.ListField(child=serializers.UUIDField())


class EditHistorySerializer(serializers.Serializer):
    content = serializers.CharField(allow_null=True)
    edited_by = serializers.UUIDField(allow_null=True)
    replaced_at = serializers.DateTimeField()


class EventSerializer(serializers.Serializer):
    type = serializers.CharField()
    room = serializers.UUIDField()
    seq = serializers.IntegerField()


class EventsPageSerializer(serializers.Serializer):
    events = serializers.ListField(child=serializers.DictField())
    has_more = serializers.BooleanField()
    seq = serializers.IntegerField(help_text="The room's current seq.")


class ResyncRequiredSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    room = serializers.UUIDField()
    seq = serializers.IntegerField()
    events_purged_through = serializers.IntegerField()


class AttentionSerializer(serializers.Serializer):
    """A room's counts and my notification settings for it, as of the room's ``seq``
    (also the WebSocket ``unread`` frame)."""

    room = serializers.UUIDField()
    seq = serializers.IntegerField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()
    mention_count = serializers.IntegerField()
    notify_level = serializers.ChoiceField(choices=NotifyLevel.choices)
    notify_level_is_default = serializers.BooleanField()
    notifications_muted = serializers.BooleanField()


class RoomNotificationsInputSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=[*NotifyLevel.values, "default"], required=False)
    muted = serializers.BooleanField(required=False)


class NotificationPreferencesSerializer(serializers.Serializer):
    desktop_enabled = serializers.BooleanField(help_text="Show browser notifications while a chat tab is open.")
    sound_enabled = serializers.BooleanField()
    email_enabled = serializers.BooleanField(help_text="Email direct messages and mentions still unread after the delay.")
    email_delay_minutes = serializers.IntegerField(min_value=1, max_value=1440)
    push_public_key = serializers.CharField(read_only=True, help_text="The VAPID key for PushManager.subscribe (applicationServerKey).")


class NotificationPreferencesInputSerializer(serializers.Serializer):
    desktop_enabled = serializers.BooleanField(required=False)
    sound_enabled = serializers.BooleanField(required=False)
    email_enabled = serializers.BooleanField(required=False)
    email_delay_minutes = serializers.IntegerField(min_value=1, max_value=1440, required=False)


class ThreadStateSerializer(serializers.Serializer):
    thread = serializers.UUIDField()
    following = serializers.BooleanField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class ThreadSerializer(serializers.Serializer):
    root = MessageSerializer()
    replies = MessageSerializer(many=True)
    following = serializers.BooleanField()
    last_read_seq = serializers.IntegerField(help_text="My read position in this thread (a seq of the room's log).")
    unread_count = serializers.IntegerField()


class ThreadReadSerializer(serializers.Serializer):
    room = serializers.UUIDField()
    thread = serializers.UUIDField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()


class ThreadUnreadSerializer(serializers.Serializer):
    threads = serializers.IntegerField(help_text="Followed threads with unread replies.")
    replies = serializers.IntegerField(help_text="Unread replies in them.")


class MentionRoomSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    room_type = serializers.CharField()


class MentionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=MentionKind.choices)
    created_at = serializers.DateTimeField(help_text="When the message was sent (an edit that added the mention does not move it).")
    room = MentionRoomSerializer()
    message = MessageSerializer()


class ThreadListItemSerializer(serializers.Serializer):
    root = MessageSerializer()
    room = MentionRoomSerializer()
    following = serializers.BooleanField()
    last_read_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)


class MentionListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, required=False, default=50)
    cursor = serializers.CharField(required=False, max_length=200)


class PushSubscriptionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    endpoint = serializers.CharField()
    user_agent = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class PushSubscriptionKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField()
    auth = serializers.CharField()


class PushSubscriptionInputSerializer(serializers.Serializer):
    """What the browser's ``PushSubscription.toJSON()`` gives."""

    endpoint = serializers.CharField()
    keys = PushSubscriptionKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815 - the browser's name


# --- Input -------------------------------------------------------------------
class JSONObjectField(serializers.DictField):
    """A free-form JSON object that every store and client can take back
    (chatsite/core/json_values.py says what is refused and why)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = json_values.problem(value)
        if problem:
            raise serializers.ValidationError(problem, code="invalid")
        return value


class RoomCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, trim_whitespace=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    is_public = serializers.BooleanField(required=False, default=False)
    member_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=1000)


class RoomUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    is_public = serializers.BooleanField(required=False)
    avatar_id = serializers.UUIDField(required=False, allow_null=True)
    extra_metadata = JSONObjectField(required=False)


class UserIdInputSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()


class MemberAddInputSerializer(serializers.Serializer):
    user_id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=Role.choices, required=False, default=Role.MEMBER)


class RoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MuteInputSerializer(serializers.Serializer):
    until = serializers.DateTimeField(required=False)
    minutes = serializers.IntegerField(required=False, min_value=1, max_value=60 * 24 * 366)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs):
        if ("until" in attrs) == ("minutes" in attrs):
            raise serializers.ValidationError("Give exactly one of until or minutes.")
        return attrs


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class MessageSendInputSerializer(serializers.Serializer):
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    message_type = serializers.ChoiceField(
        choices=[MessageType.TEXT, MessageType.IMAGE, MessageType.FILE, MessageType.ACTION], required=False
    )
    client_msg_id = serializers.CharField(required=False, max_length=64, allow_null=True)
    reply_to = serializers.UUIDField(required=False, allow_null=True)
    attachment_id = serializers.UUIDField(required=False, allow_null=True)
    extra_metadata = JSONObjectField(required=False)
    thread = serializers.UUIDField(required=False, allow_null=True, help_text="Reply in this thread (the root message's id).")
    also_in_room = serializers.BooleanField(required=False, default=False, help_text="A reply also shown in the room.")


class MessageRefInputSerializer(serializers.Serializer):
    message_id = serializers.UUIDField()


class MessageEditInputSerializer(serializers.Serializer):
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ForwardInputSerializer(serializers.Serializer):
    room = serializers.UUIDField()
    client_msg_id = serializers.CharField(required=False, max_length=64, allow_null=True)


class ReactionInputSerializer(serializers.Serializer):
    reaction = serializers.CharField(max_length=32, trim_whitespace=False)


class ReadInputSerializer(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=2**62)


class HistoryQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    after = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)

    def validate(self, attrs):
        if "before" in attrs and "after" in attrs:
            raise serializers.ValidationError("Give before or after, not both.")
        return attrs


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, max_value=2**62)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=500)


class RoomListQuerySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=RoomType.choices, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
    cursor = serializers.CharField(required=False, max_length=200, help_text="X-Next-Cursor of the previous page.")


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=500)
    room = serializers.UUIDField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)


class UploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(max_length=255)
    room = serializers.UUIDField(required=False, help_text="The room it will be posted in (checks you may post files there).")
    keep_original = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Images: keep the file exactly as uploaded, with its metadata (EXIF: GPS position, camera, author). "
        "By default it is stored without them.",
    )


def max_message_length() -> int:
    return settings.CHAT_MAX_MESSAGE_LENGTH
