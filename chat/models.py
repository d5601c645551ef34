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


class PreviewState(models.TextChoices):
    NONE = "", "No preview (not an image or a PDF)"
    PENDING = "pending", "Being made (a PDF's job)"
    READY = "ready", "Ready"
    FAILED = "failed", "Could not be made"


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
    # The uploader kept the original's bytes (and its metadata) as uploaded.
    original_kept = models.BooleanField(default=False)
    # Two WebP thumbnails (chat/previews.py SIZES), served like the file.
    preview_state = models.CharField(max_length=10, choices=PreviewState.choices, default=PreviewState.NONE, blank=True)
    preview_small = models.FileField(upload_to="previews/%Y/%m/", blank=True)
    preview_large = models.FileField(upload_to="previews/%Y/%m/", blank=True)
    # {"small": [width, height], "large": [width, height]}
    preview_sizes = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.original_name

    @property
    def has_previews(self) -> bool:
        return self.preview_state == PreviewState.READY and bool(self.preview_small) and bool(self.preview_large)

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


class NotifyLevel(models.TextChoices):
    ALL = "all", "Every message"
    MENTIONS = "mentions", "Mentions and direct messages"
    NOTHING = "nothing", "Nothing"


def default_notify_level(room_type: str) -> str:
    """Direct rooms notify of every message; the others of mentions only."""
    return NotifyLevel.ALL if room_type == RoomType.DIRECT else NotifyLevel.MENTIONS


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
    # The member's own notification choice for this room; empty: the room type's
    # default (default_notify_level). Not to be confused with muted_until, a
    # moderator's ban on posting.
    notify_level = models.CharField(max_length=10, choices=NotifyLevel.choices, blank=True)
    # Muted by the member: no unread badge (mentions still count), no notification.
    notifications_muted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="chat_member_one_per_room_user"),
            models.CheckConstraint(
                condition=Q(notify_level__in=["", *NotifyLevel.values]), name="chat_member_notify_level_valid"
            ),
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

    @property
    def effective_notify_level(self) -> str:
        return self.notify_level or default_notify_level(self.room.room_type)


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
    # The resolved mentions ([{"kind", "user_id"}], chat/mentions.py) as a Fernet
    # token like the content; empty when the message mentions nobody.
    mentions_encrypted = models.TextField(blank=True)
    # The content's sanitized HTML (chat/formatting.py) as a Fernet token, made
    # when the message is stored or edited; "plain" when formatting adds nothing
    # to the text (most messages: clients show the text); empty for system
    # messages and those stored before formatting (rendered when read).
    html_encrypted = models.TextField(blank=True)
    extra_metadata = models.JSONField(default=dict, blank=True)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    forwarded_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forwards"
    )
    # A reply in a thread: the thread's root (never itself a reply). Roots keep
    # the thread's summary below, written under the room's seq lock.
    thread = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="thread_replies"
    )
    also_in_room = models.BooleanField(default=False)  # a reply "also sent to #room"
    thread_reply_count = models.PositiveIntegerField(default=0)
    thread_last_reply_at = models.DateTimeField(null=True, blank=True)
    thread_participant_ids = models.JSONField(default=list, blank=True)  # most recent repliers first, at most 3
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
            models.Index(fields=["thread", "seq"], condition=Q(thread__isnull=False), name="chat_message_thread_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_message_type_display()} #{self.seq} in {self.room_id}"


class ThreadFollow(BaseModel):
    """One person's state of one thread: following it or not, and how far they
    read it (a seq of the room's log, like the room's read position)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_thread_follows")
    root = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="follows")
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="+")
    # True: following; False: unfollowed on purpose (being mentioned or being
    # the root's author does not follow again; replying does); None: only read
    # it so far (the automatic follows apply).
    following = models.BooleanField(null=True, default=True)
    last_read_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "root"], name="chat_thread_follow_once")]
        indexes = [
            models.Index(fields=["user", "following"], condition=Q(following=True), name="chat_thread_following_idx")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {'follows' if self.following else 'left'} {self.root_id}"


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


class PinnedMessage(BaseModel):
    """A message pinned in its room, listed in the room's details (room owners
    and admins pin; in a direct room either person). A deleted message stays
    pinned but is not listed while deleted."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="pins")
    message = models.OneToOneField(ChatMessage, on_delete=models.CASCADE, related_name="pin")
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["room", "-created_at"], name="chat_pin_room_recent")]

    def __str__(self) -> str:
        return f"pin of {self.message_id} in {self.room_id}"


class SavedMessage(BaseModel):
    """A message one person saved for later, across their rooms (private to them:
    no room event). Listed while they are still a member of its room and the
    message is not deleted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_messages")
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "message"], name="chat_saved_one_per_user_message")]
        indexes = [models.Index(fields=["user", "-created_at"], name="chat_saved_user_recent")]

    def __str__(self) -> str:
        return f"{self.message_id} saved by {self.user_id}"


# Kinds of the durable jobs chat runs (chatsite/core/jobs.py): the exports (chat/exports).
JOB_ROOM_EXPORT = "room.export"
JOB_PERSONAL_EXPORT = "user.export"
EXPORT_JOB_KINDS = (JOB_ROOM_EXPORT, JOB_PERSONAL_EXPORT)

# What an invite link makes of whoever uses it.
INVITE_ROLES = [(Role.MEMBER, "Member"), (Role.GUEST, "Guest")]


class RoomInvite(BaseModel):
    """A link that lets whoever opens it (logged in) join a group room, as a
    member or a guest, until it expires, is used up or is revoked. Owners and
    admins make and revoke them; a banned person cannot use one."""

    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="invites")
    code = models.CharField(max_length=32, unique=True)
    role = models.CharField(max_length=10, choices=INVITE_ROLES, default=Role.MEMBER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit until it expires.")
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(role__in=[Role.MEMBER, Role.GUEST]), name="chat_invite_role_valid"),
            models.CheckConstraint(
                condition=Q(max_uses__isnull=True) | Q(uses__lte=F("max_uses")), name="chat_invite_uses_within_max"
            ),
        ]
        indexes = [models.Index(fields=["room", "-created_at"], name="chat_invite_room_recent")]

    def __str__(self) -> str:
        return f"invite to {self.room_id} ({self.role})"


class MentionKind(models.TextChoices):
    USER = "user", "@username"
    HERE = "here", "@here"
    ROOM = "room", "@room"


class MessageMention(BaseModel):
    """One person a message mentions: the index behind mention counts and the
    Mentions view (the mention itself is in the message, encrypted)."""

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="mention_rows")
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()  # the message's seq, so counts need no join
    # When the message was sent (not when this row was made: an edit can add a
    # mention), the Mentions view's order.
    sent_at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=MentionKind.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="chat_mention_one_per_user"),
        ]
        indexes = [
            models.Index(fields=["user", "room", "seq"], name="chat_mention_user_room_idx"),
            models.Index(fields=["user", "-sent_at", "-id"], name="chat_mention_user_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"@{self.kind} of {self.user_id} in #{self.seq}"


class NotificationPreferences(BaseModel):
    """A person's notification settings; the defaults apply until they change one."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_notification_preferences")
    desktop_enabled = models.BooleanField(default=False)
    sound_enabled = models.BooleanField(default=True)
    email_enabled = models.BooleanField(default=True)
    email_delay_minutes = models.PositiveIntegerField(default=10)

    class Meta:
        verbose_name_plural = "notification preferences"
        constraints = [
            models.CheckConstraint(
                condition=Q(email_delay_minutes__gte=1, email_delay_minutes__lte=1440),
                name="chat_prefs_email_delay_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Notification preferences of {self.user_id}"


class PushSubscription(BaseModel):
    """One browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=300, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Push subscription of {self.user_id}"


class NotificationChannel(models.TextChoices):
    PUSH = "push", "Web Push"
    EMAIL = "email", "Email"


class NotificationReason(models.TextChoices):
    MENTION = "mention", "Mention"
    DIRECT = "direct", "Direct message"
    THREAD = "thread", "Reply in a followed thread"
    MESSAGE = "message", "Message (level: all)"


class NotificationState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled (read, deleted or no longer wanted)"
    SKIPPED = "skipped", "Skipped (the user had an open socket, or no subscription)"
    FAILED = "failed", "Failed"


class Notification(BaseModel):
    """One notification due to one person on one channel: a durable queue row.

    Written in the transaction that stores the message; the worker
    (chat/notify/worker.py) claims due rows with ``FOR UPDATE SKIP LOCKED``,
    checks they are still wanted, sends, and records the outcome in the same
    transaction as the claim.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    reason = models.CharField(max_length=10, choices=NotificationReason.choices)
    state = models.CharField(max_length=10, choices=NotificationState.choices, default=NotificationState.PENDING)
    due_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "channel"], name="chat_notification_once"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="pending"), name="chat_notification_due_idx"),
            models.Index(
                fields=["user", "room"], condition=Q(state="pending"), name="chat_notification_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.user_id} ({self.state})"


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

    # No index of its own: the unique (message, token) index serves lookups by message.
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="search_tokens", db_index=False)
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="+")
    token = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "token"], name="chat_search_token_unique")
        ]
        # A word's messages newest first (search walks them so when the word is
        # common), the room and message in the index itself: index-only scans.
        # A token row is never older than its message (written with it or after).
        indexes = [
            models.Index(fields=["token", "-created_at"], include=["room", "message"], name="chat_search_token_time_idx")
        ]


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
    INVITE_CREATE = "invite.create", "Create invite link"
    INVITE_REVOKE = "invite.revoke", "Revoke invite link"


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
