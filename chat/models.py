"""The chat data model. Fields and constraints only: every write goes through chat.services."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from chatsite.core.models import BaseModel


class RoomType(models.TextChoices):
    DIRECT = "direct", "Direct"
    GROUP = "group", "Group"
    COMPANY = "company", "Company"
    SUPPORT = "support", "Support"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    GUEST = "guest", "Guest"


class MessageType(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    FILE = "file", "File"
    SYSTEM = "system", "System"
    ACTION = "action", "Action"


# Upload allowlist: the content type detected from the bytes (never the name).
# Images must also open in Pillow (chat/services/attachments.py).
ATTACHMENT_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
ATTACHMENT_FILE_TYPES = frozenset({
    "application/pdf",
    "application/zip",
    "application/gzip",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
    "video/webm",
})
ATTACHMENT_TEXT_TYPE = "text/plain"


class Attachment(BaseModel):
    """An uploaded file. Served only to members of a room it was posted in."""

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to="attachments/%Y/%m/")
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class ChatRoom(BaseModel):
    room_type = models.CharField(max_length=10, choices=RoomType.choices)
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    avatar = models.ForeignKey(
        Attachment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    company = models.ForeignKey(
        "accounts.Company", null=True, blank=True, on_delete=models.CASCADE, related_name="rooms"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    # Group rooms only: a public group can be found and joined by anyone in its company.
    is_public = models.BooleanField(default=False)
    extra_metadata = models.JSONField(default=dict, blank=True)
    # The room's last event seq: gap-free, allocated under the room row's lock.
    seq = models.BigIntegerField(default=0)
    # Events up to this seq were purged by retention; syncing from before it
    # answers resync_required.
    events_purged_through = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Direct rooms: the two people, lower id first, so the pair is unique.
    direct_user_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    direct_user_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Support rooms: the person asking for help (one open support room each).
    support_requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        permissions = [("moderate_chatroom", "Can moderate any room (mute, ban, delete, announce)")]
        indexes = [
            models.Index(fields=["company", "room_type", "is_active"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["direct_user_low", "direct_user_high"],
                condition=Q(room_type="direct"),
                name="chat_room_one_direct_per_pair",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        room_type="direct",
                        direct_user_low__isnull=False,
                        direct_user_high__isnull=False,
                        direct_user_low__lt=F("direct_user_high"),
                    )
                    | (
                        ~Q(room_type="direct")
                        & Q(direct_user_low__isnull=True, direct_user_high__isnull=True)
                    )
                ),
                name="chat_room_direct_pair_ordered",
            ),
            models.UniqueConstraint(
                fields=["support_requester"],
                condition=Q(room_type="support", is_active=True),
                name="chat_room_one_open_support_room",
            ),
            models.CheckConstraint(condition=Q(seq__gte=0), name="chat_room_seq_non_negative"),
            models.CheckConstraint(
                condition=Q(room_type__in=RoomType.values), name="chat_room_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_room_type_display()} {str(self.pk)[:8]}"


class ChatMember(BaseModel):
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    last_read_seq = models.BigIntegerField(default=0)
    muted_until = models.DateTimeField(null=True, blank=True)
    is_banned = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="chat_member_one_per_room_user"),
            models.CheckConstraint(
                condition=Q(is_banned=False) | Q(is_active=False),
                name="chat_member_banned_is_inactive",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="chat_member_role_valid"),
        ]
        indexes = [
            models.Index(fields=["user", "is_active"], name="chat_member_user_active_idx"),
            models.Index(fields=["room", "is_active"], name="chat_member_room_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"


class ChatMessage(BaseModel):
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    # The seq of this message's message.created event.
    seq = models.BigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )
    message_type = models.CharField(max_length=10, choices=MessageType.choices, default=MessageType.TEXT)
    # Fernet token (MultiFernet over CHAT_ENCRYPTION_KEYS); never plaintext.
    content_encrypted = models.TextField(blank=True)
    extra_metadata = models.JSONField(default=dict, blank=True)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    forwarded_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forwards"
    )
    attachment = models.ForeignKey(
        Attachment, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    client_msg_id = models.CharField(max_length=64, null=True, blank=True)
    is_edited = models.BooleanField(default=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_purged_at = models.DateTimeField(null=True, blank=True)
    # Content rules: a link to a watched domain flags the message for moderators.
    is_flagged = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq_unique"),
            models.UniqueConstraint(
                fields=["sender", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="chat_message_sender_client_msg_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(message_type__in=MessageType.values), name="chat_message_type_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["is_flagged", "created_at"],
                condition=Q(is_flagged=True),
                name="chat_message_flagged_idx",
            ),
            models.Index(
                fields=["deleted_at"], condition=Q(is_deleted=True), name="chat_message_deleted_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_message_type_display()} #{self.seq} in {self.room_id}"


class MessageEdit(BaseModel):
    """One earlier version of an edited message (encrypted like the message)."""

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="edits")
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    previous_content_encrypted = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["message", "created_at"], name="chat_edit_message_idx")]

    def __str__(self) -> str:
        return f"Version replaced {self.created_at:%Y-%m-%d %H:%M:%S}" if self.created_at else "Earlier version"


class MessageReaction(BaseModel):
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reactions"
    )
    reaction = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "reaction"], name="chat_reaction_one_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reaction} by {self.user_id}"


class RoomEvent(BaseModel):
    """The room's event log: one row per change members must see, gap-free ``seq``.

    ``payload`` is the wire frame with any message content left out: replay
    renders messages from their current (decrypted) state, so the log holds no
    plaintext and a deleted message's content does not live on in it.
    """

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="events")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    message = models.ForeignKey(
        ChatMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_event_room_seq_unique")
        ]
        ordering = ["room", "seq"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq}"


class SearchToken(BaseModel):
    """One word of one message, as a keyed hash (HMAC-SHA256 with CHAT_SEARCH_KEY, 64 bits)."""

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="search_tokens")
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="+")
    token = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "token"], name="chat_search_token_unique")
        ]
        indexes = [models.Index(fields=["token", "room"], name="chat_search_token_room_idx")]


class ModerationAction(models.TextChoices):
    MEMBER_MUTE = "member.mute", "Mute member"
    MEMBER_UNMUTE = "member.unmute", "Unmute member"
    MEMBER_BAN = "member.ban", "Ban member"
    MEMBER_UNBAN = "member.unban", "Unban member"
    MEMBER_REMOVE = "member.remove", "Remove member"
    MEMBER_ROLE = "member.role", "Change role"
    MESSAGE_DELETE = "message.delete", "Delete message"
    MESSAGE_RESTORE = "message.restore", "Restore message"
    ROOM_DEACTIVATE = "room.deactivate", "Deactivate room"
    ROOM_REACTIVATE = "room.reactivate", "Reactivate room"
    ROOM_ANNOUNCE = "room.announce", "Announcement"


class AuditLog(BaseModel):
    """Every moderation action, from admin or the API. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40, choices=ModerationAction.choices)
    room = models.ForeignKey(ChatRoom, null=True, on_delete=models.SET_NULL, related_name="+")
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_message = models.ForeignKey(
        ChatMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="chat_auditlog_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_id}"
