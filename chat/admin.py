"""The moderators' tool.

Admin is an edge like the REST API and the WebSocket: every change it makes goes
through ``chat.commands`` (whose services check permission, log the room event,
write the audit log and broadcast after commit), so clients see a moderator's
action live. Nothing here writes a chat model directly.

Who may do what:

- Staff with ``chat.moderate_chatroom`` (site moderators, see
  ``chat.policies.is_site_moderator``) can view every chat model (and the core
  app's rate-limit log) and run the moderation actions. Other staff need the
  usual view/change permissions; the commands still decide whether their
  action is allowed.
- Message content is shown decrypted, read-only; it is never editable here and
  admin never stores plaintext.
- Rooms, members and messages are never deleted outright (deactivate, remove,
  soft-delete instead); the event log, search index, rate-limit log and audit
  log are read-only for everyone.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import InvalidToken
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import ngettext

from accounts.admin import NeverAddedOrDeletedMixin, ReadOnlyMixin, UserAdmin
from accounts.models import User
from accounts.services import DELETED_USERNAME_PREFIX
from chatsite.core.exceptions import ChatError
from chatsite.core.models import Job, JobState, RateLimitLog

from . import commands, crypto, search
from .events.render import message_content
from .models import (
    EXPORT_JOB_KINDS,
    Attachment,
    AuditLog,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageReaction,
    Notification,
    NotificationPreferences,
    PushSubscription,
    RoomEvent,
    RoomInvite,
    RoomType,
    SearchToken,
    ThreadFollow,
)
from .policies import is_site_moderator

PREVIEW_LENGTH = 80
MAX_MUTE_MINUTES = 366 * 24 * 60
UNREADABLE = "(cannot be decrypted with the configured keys)"
PURGED = "(content purged by retention)"


# --- Decrypted content -------------------------------------------------------


def _decrypt(token: str) -> str:
    try:
        return crypto.decrypt(token)
    except InvalidToken:
        return UNREADABLE


def message_text(message: ChatMessage) -> str:
    """The message's plaintext for moderators, including soft-deleted messages
    (so they can decide to restore them) until retention purges the content."""
    if message.content_purged_at is not None:
        return PURGED
    if not message.is_deleted:
        try:
            return message_content(message)
        except InvalidToken:
            return UNREADABLE
    return _decrypt(message.content_encrypted)


# --- Permissions -------------------------------------------------------------


class ModeratorViewMixin:
    """Site moderators see every chat model, whatever their model permissions,
    and the app it is in (``core`` for the rate-limit log, where they hold none)."""

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or is_site_moderator(request.user)

    def has_module_permission(self, request):
        return super().has_module_permission(request) or is_site_moderator(request.user)


class ReadOnlyAdmin(ReadOnlyMixin, ModeratorViewMixin, admin.ModelAdmin):
    """Viewable (by site moderators too), never added, changed or deleted through admin."""


# --- Moderation actions ------------------------------------------------------


class ModerationActionForm(ActionForm):
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "kept in the audit log"}),
    )


class MemberActionForm(ModerationActionForm):
    mute_minutes = forms.IntegerField(
        label="Mute for (minutes)",
        required=False,
        initial=60,
        min_value=1,
        max_value=MAX_MUTE_MINUTES,
        widget=forms.NumberInput(attrs={"style": "width: 6em"}),
    )


class RoomActionForm(ModerationActionForm):
    announcement = forms.CharField(
        label="Announcement",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "placeholder": "text of the announcement"}),
    )


@dataclass(frozen=True)
class CommandAction:
    """An admin action (site moderators only) that runs one chat command per
    selected object: ``command(actor=…, <the admin's command_ids of it>, reason=…)``.

    ``done`` and ``skipped`` word the summary, ``{}`` standing for the count and
    the admin's ``noun`` ("Banned {}." → "Banned 2 members.", "{} already
    banned." → "1 member was already banned."); ``skip(obj)`` leaves out objects
    already in the wanted state.
    """

    command: Callable
    short_description: str
    done: str
    skip: Callable | None = None
    skipped: str = ""
    allowed_permissions: tuple = ("moderate",)

    def __call__(self, modeladmin, request, queryset):
        return modeladmin.run_command(request, queryset, self)


class ModerationActionsMixin:
    """Actions that call a command per selected object and report each refusal."""

    noun = ("object", "objects")
    # The ids a command takes, each from an attribute of the selected object.
    command_ids: dict[str, str] = {}
    # What __str__ and the skip tests read of the selected objects.
    action_related: tuple[str, ...] = ()

    def has_moderate_permission(self, request):
        return is_site_moderator(request.user)

    def response_action(self, request, queryset):
        # Django reports an invalid action form as "No action selected";
        # say what is wrong with the reason, duration or text instead.
        form = self.action_form(request.POST, auto_id=None)
        problems = [
            f"{form.fields[name].label}: {' '.join(errors)}"
            for name, errors in form.errors.items()
            if name not in ActionForm.base_fields
        ]
        if problems:
            for problem in problems:
                self.message_user(request, problem, messages.ERROR)
            return None
        return super().response_action(request, queryset)

    def action_options(self, request) -> dict:
        """The extra fields of the action form (already validated by response_action)."""
        form = self.action_form(request.POST, auto_id=None)
        form.is_valid()
        return form.cleaned_data

    def run_command(self, request, queryset, action: CommandAction, **arguments) -> int:
        """``action.command`` for each selected object, with the form's reason and
        ``arguments``; a refusal (ChatError) is reported and the others go on.
        Returns how many succeeded."""
        arguments.setdefault("reason", self.action_options(request)["reason"])
        succeeded = left_out = 0
        for obj in queryset.select_related(*self.action_related):
            if action.skip is not None and action.skip(obj):
                left_out += 1
                continue
            try:
                ids = {argument: getattr(obj, attribute) for argument, attribute in self.command_ids.items()}
                action.command(actor=request.user, **ids, **arguments)
            except ChatError as exc:
                self.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
            else:
                succeeded += 1
        singular, plural = self.noun
        if succeeded:
            self.message_user(request, action.done.format(_count(succeeded, singular, plural)), messages.SUCCESS)
        if left_out:
            counted = _count(left_out, f"{singular} was", f"{plural} were")
            self.message_user(request, action.skipped.format(counted), messages.INFO)
        return succeeded


def _count(n: int, singular: str, plural: str) -> str:
    return f"{n} {ngettext(singular, plural, n)}"


# --- Rooms -------------------------------------------------------------------


def _changelist_link(model_name: str, label: str, **filters) -> str:
    url = reverse(f"admin:chat_{model_name}_changelist")
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


@admin.register(ChatRoom)
class ChatRoomAdmin(ModerationActionsMixin, NeverAddedOrDeletedMixin, ModeratorViewMixin, admin.ModelAdmin):
    """Name, description and public flag are edited through ``commands.room_update``;
    rooms are created by people (or the API), and closed by deactivating them."""

    EDITABLE = ("name", "description", "is_public")

    action_form = RoomActionForm
    actions = ("deactivate_rooms", "reactivate_rooms", "post_announcement", "export_rooms")
    noun = ("room", "rooms")
    command_ids = {"room_id": "pk"}
    list_display = (
        "__str__",
        "room_type",
        "company",
        "is_active",
        "is_public",
        "member_count",
        "seq",
        "last_message_at",
        "created_at",
    )
    list_filter = ("room_type", "is_active", "is_public", "company")
    search_fields = ("name", "description", "company__name", "created_by__username")
    list_select_related = ("company", "created_by")
    ordering = ("-created_at",)
    fieldsets = (
        (None, {"fields": ("room_type", "name", "description", "is_public", "is_active", "company")}),
        (
            "People",
            {
                "fields": (
                    "member_count",
                    "related_links",
                    "created_by",
                    "direct_user_low",
                    "direct_user_high",
                    "support_requester",
                )
            },
        ),
        (
            "Event log",
            {"fields": ("seq", "events_purged_through", "last_message_at", "created_at", "updated_at")},
        ),
        ("Other", {"classes": ("collapse",), "fields": ("avatar", "extra_metadata")}),
    )

    def get_queryset(self, request):
        active_members = (
            ChatMember.objects.filter(room=OuterRef("pk"), is_active=True)
            .order_by()
            .values("room")
            .annotate(count=Count("pk"))
            .values("count")[:1]
        )
        return (
            super()
            .get_queryset(request)
            .annotate(active_member_count=Coalesce(Subquery(active_members, output_field=IntegerField()), Value(0)))
        )

    def get_readonly_fields(self, request, obj=None):
        editable = set(self.EDITABLE)
        if obj is None or not obj.is_active or obj.room_type == RoomType.DIRECT:
            editable = set()
        elif obj.room_type != RoomType.GROUP:
            editable.discard("is_public")  # only groups can be public
        fields = [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]
        return [name for name in fields if name not in editable]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj) or is_site_moderator(request.user)
        # A direct room has no settings and an inactive one cannot be changed.
        return allowed and (obj is None or (obj.is_active and obj.room_type != RoomType.DIRECT))

    @admin.display(description="members", ordering="active_member_count")
    def member_count(self, obj):
        return getattr(obj, "active_member_count", None)

    @admin.display(description="see")
    def related_links(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            "{} · {} · {}",
            _changelist_link("chatmember", "members", room__id__exact=obj.pk),
            _changelist_link("chatmessage", "messages", room__id__exact=obj.pk),
            _changelist_link("roomevent", "event log", room__id__exact=obj.pk),
        )

    def save_model(self, request, obj, form, change):
        updates = {name: form.cleaned_data[name] for name in self.EDITABLE if name in form.changed_data}
        if updates:
            # Raises ChatError when refused; changeform_view rolls back and reports it.
            commands.room_update(actor=request.user, room_id=obj.pk, **updates)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ChatError as exc:
            self.message_user(request, f"Not saved: {exc.detail}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    deactivate_rooms = CommandAction(
        commands.room_deactivate,
        "Deactivate selected rooms (history stays, nothing new can be posted)",
        done="Deactivated {}.",
        skip=lambda room: not room.is_active,
        skipped="{} already inactive.",
    )
    reactivate_rooms = CommandAction(
        commands.room_reactivate,
        "Reactivate selected rooms",
        done="Reactivated {}.",
        skip=lambda room: room.is_active,
        skipped="{} already active.",
    )
    _announce = CommandAction(commands.room_post_announcement, "", done="Posted the announcement in {}.")

    @admin.action(description="Post the announcement to selected rooms", permissions=["moderate"])
    def post_announcement(self, request, queryset):
        text = self.action_options(request)["announcement"]
        if not text.strip():
            self.message_user(request, "Write the announcement's text first.", messages.ERROR)
            return
        self.run_command(request, queryset, self._announce, content=text)

    @admin.action(description="Export selected rooms (a ZIP each: see Jobs to download them)", permissions=["moderate"])
    def export_rooms(self, request, queryset):
        started = 0
        for room in queryset:
            try:
                commands.room_export_start(actor=request.user, room_id=room.pk, attachments_bytes=0)
            except ChatError as exc:
                self.message_user(request, f"{room}: {exc.detail}", messages.ERROR)
            else:
                started += 1
        if started:
            link = format_html('<a href="{}">Jobs</a>', reverse("admin:core_job_changelist"))
            self.message_user(
                request, format_html("Started {}: the worker makes them; download each from {} when it is done.", _count(started, "export", "exports"), link), messages.SUCCESS
            )


# --- Members -----------------------------------------------------------------


class MutedFilter(admin.SimpleListFilter):
    title = "muted now"
    parameter_name = "muted"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(muted_until__gt=now)
        if self.value() == "no":
            return queryset.filter(Q(muted_until__isnull=True) | Q(muted_until__lte=now))
        return queryset


@admin.register(ChatMember)
class ChatMemberAdmin(ModerationActionsMixin, ReadOnlyAdmin):
    """Read-only rows; mute, unmute, ban, unban and remove are actions through the commands."""

    action_form = MemberActionForm
    actions = ("mute_members", "unmute_members", "ban_members", "unban_members", "remove_members")
    noun = ("member", "members")
    command_ids = {"room_id": "room_id", "user_id": "user_id"}
    action_related = ("room", "user")
    list_display = ("user", "room", "role", "is_active", "is_banned", "muted_until", "joined_at", "left_at")
    list_filter = ("role", "is_active", "is_banned", MutedFilter, "room__room_type")
    search_fields = ("user__username", "user__display_name", "user__email", "room__name")
    list_select_related = ("user", "room")
    ordering = ("-created_at",)
    fields = (
        "room",
        "user",
        "role",
        "is_active",
        "is_banned",
        "muted_until",
        "last_read_seq",
        "notify_level",
        "notifications_muted",
        "joined_at",
        "left_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.action(description="Mute selected members (for the minutes given)", permissions=["moderate"])
    def mute_members(self, request, queryset):
        minutes = self.action_options(request)["mute_minutes"] or MemberActionForm.base_fields["mute_minutes"].initial
        mute = CommandAction(commands.member_mute, "", done=f"Muted {{}} for {_count(minutes, 'minute', 'minutes')}.")
        self.run_command(request, queryset, mute, until=timezone.now() + timedelta(minutes=minutes))

    unmute_members = CommandAction(
        commands.member_unmute,
        "Unmute selected members",
        done="Unmuted {}.",
        skip=lambda member: member.muted_until is None,
        skipped="{} not muted.",
    )
    ban_members = CommandAction(
        commands.member_ban,
        "Ban selected members (removed, cannot rejoin)",
        done="Banned {}.",
        skip=lambda member: member.is_banned,
        skipped="{} already banned.",
    )
    unban_members = CommandAction(
        commands.member_unban,
        "Lift the ban of selected members",
        done="Lifted the ban of {}.",
        skip=lambda member: not member.is_banned,
        skipped="{} not banned.",
    )
    remove_members = CommandAction(
        commands.member_remove,
        "Remove selected members from their rooms",
        done="Removed {}.",
        skip=lambda member: not member.is_active,
        skipped="{} no longer in the room.",
    )


# --- Messages ----------------------------------------------------------------


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged by content rules"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return (("yes", "Flagged"), ("no", "Not flagged"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(is_flagged=True)
        if self.value() == "no":
            return queryset.filter(is_flagged=False)
        return queryset


class MessageEditInline(ReadOnlyMixin, ModeratorViewMixin, admin.TabularInline):
    """The message's earlier versions, decrypted, read-only."""

    model = MessageEdit
    fk_name = "message"
    verbose_name = "earlier version"
    verbose_name_plural = "edit history"
    fields = ("created_at", "edited_by", "previous_content")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("edited_by").order_by("created_at")

    @admin.display(description="text before the edit")
    def previous_content(self, obj):
        return _decrypt(obj.previous_content_encrypted)


@admin.register(ChatMessage)
class ChatMessageAdmin(ModerationActionsMixin, ReadOnlyAdmin):
    """Messages are read-only here; delete (soft) and restore are actions through the commands.

    Search matches room, sender and flag reason, and message words through the
    keyed-hash index (the same way as the API's search: no plaintext is searched).
    """

    action_form = ModerationActionForm
    actions = ("delete_messages", "restore_messages")
    noun = ("message", "messages")
    command_ids = {"message_id": "pk"}
    action_related = ("room", "sender")
    inlines = (MessageEditInline,)
    list_display = (
        "seq",
        "room",
        "sender",
        "message_type",
        "content_preview",
        "is_flagged",
        "flag_reason",
        "is_edited",
        "is_deleted",
        "created_at",
    )
    list_display_links = ("seq", "content_preview")
    list_filter = (FlaggedFilter, "is_deleted", "is_edited", "message_type", "room__room_type", "created_at")
    search_fields = ("room__name", "sender__username", "sender__display_name", "flag_reason")
    list_select_related = ("room", "sender")
    ordering = ("-created_at",)
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("room", "seq", "sender", "message_type", "content", "attachment")}),
        ("Moderation", {"fields": ("is_flagged", "flag_reason", "is_deleted", "deleted_at", "deleted_by")}),
        (
            "Details",
            {
                "fields": (
                    "reply_to",
                    "forwarded_from",
                    "client_msg_id",
                    "is_edited",
                    "edited_at",
                    "content_purged_at",
                    "extra_metadata",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = tuple(name for fieldset in fieldsets for name in fieldset[1]["fields"])

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        words = search.words_of(search_term)
        if not words:
            return found, may_have_duplicates
        conditions = search.containing_words([crypto.query_word_tokens(word) for word in words])
        return found | queryset.filter(*conditions), may_have_duplicates

    @admin.display(description="content")
    def content_preview(self, obj):
        text = message_text(obj)
        if obj.is_deleted and obj.content_purged_at is None:
            text = f"[deleted] {text}"
        return Truncator(text).chars(PREVIEW_LENGTH) or "-"

    @admin.display(description="content (decrypted)")
    def content(self, obj):
        return message_text(obj)

    delete_messages = CommandAction(
        commands.message_delete,
        "Delete selected messages (soft: can be restored)",
        done="Deleted {}.",
        skip=lambda message: message.is_deleted,
        skipped="{} already deleted.",
    )
    restore_messages = CommandAction(
        commands.message_restore,
        "Restore selected deleted messages",
        done="Restored {}.",
        skip=lambda message: not message.is_deleted,
        skipped="{} not deleted.",
    )


@admin.register(MessageEdit)
class MessageEditAdmin(ReadOnlyAdmin):
    list_display = ("message", "edited_by", "previous_content_preview", "created_at")
    list_filter = ("created_at",)
    search_fields = ("edited_by__username", "edited_by__display_name", "message__room__name")
    list_select_related = ("message", "edited_by")
    ordering = ("-created_at",)
    fields = ("message", "edited_by", "previous_content", "created_at")
    readonly_fields = fields

    @admin.display(description="text before the edit")
    def previous_content_preview(self, obj):
        return Truncator(_decrypt(obj.previous_content_encrypted)).chars(PREVIEW_LENGTH)

    @admin.display(description="text before the edit")
    def previous_content(self, obj):
        return _decrypt(obj.previous_content_encrypted)


@admin.register(RoomInvite)
class RoomInviteAdmin(ModerationActionsMixin, ReadOnlyAdmin):
    """Invite links are made in the room (owners and admins); staff see them and revoke them here."""

    action_form = ModerationActionForm
    actions = ("revoke_invites",)
    noun = ("invite link", "invite links")
    command_ids = {"room_id": "room_id", "invite_id": "pk"}
    action_related = ("room",)
    list_display = ("room", "role", "created_by", "created_at", "expires_at", "uses", "max_uses", "revoked_at")
    list_filter = ("role", "created_at", "expires_at")
    search_fields = ("room__name", "created_by__username", "created_by__display_name")
    list_select_related = ("room", "created_by")
    ordering = ("-created_at",)
    # The code is the secret that lets people in: not shown here.
    fields = ("room", "role", "created_by", "created_at", "expires_at", "max_uses", "uses", "revoked_at", "revoked_by")
    readonly_fields = fields

    revoke_invites = CommandAction(
        commands.invite_revoke,
        "Revoke selected invite links",
        done="Revoked {}.",
        skip=lambda invite: invite.revoked_at is not None,
        skipped="{} already revoked.",
    )


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Durable jobs (exports, imports, previews): their state and progress; a
    finished export can be downloaded here by the person who started it."""

    list_display = ("kind", "state", "progress", "owner", "created_at", "finished_at", "attempts", "download")
    list_filter = ("kind", "state")
    search_fields = ("kind", "owner__username")
    list_select_related = ("owner",)
    ordering = ("-created_at",)
    fields = ("kind", "state", "progress", "owner", "payload", "result", "error", "attempts", "worker", "due_at", "lease_until", "started_at", "finished_at", "expires_at", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        self._request = request
        return super().get_queryset(request)

    @admin.display(description="download")
    def download(self, obj):
        mine = getattr(self, "_request", None) is not None and obj.owner_id == self._request.user.pk
        if mine and obj.kind in EXPORT_JOB_KINDS and obj.state == JobState.DONE and obj.expires_at and obj.expires_at > timezone.now():
            return format_html('<a href="{}">{}</a>', reverse("export-download", args=[obj.pk]), obj.result.get("name") or "ZIP")
        return "-"


@admin.register(MessageReaction)
class MessageReactionAdmin(ReadOnlyAdmin):
    list_display = ("reaction", "user", "message", "created_at")
    list_filter = ("created_at",)
    search_fields = ("reaction", "user__username", "user__display_name", "message__room__name")
    list_select_related = ("user", "message")
    ordering = ("-created_at",)
    fields = ("message", "user", "reaction", "created_at")
    readonly_fields = fields


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """Uploaded through the API only. The stored file is named, never linked: files
    are served only through the view that checks room membership."""

    list_display = ("original_name", "content_type", "size", "dimensions", "uploaded_by", "created_at")
    list_filter = ("content_type", "created_at")
    search_fields = ("original_name", "sha256", "uploaded_by__username", "uploaded_by__display_name")
    list_select_related = ("uploaded_by",)
    ordering = ("-created_at",)
    fields = (
        "original_name",
        "content_type",
        "size",
        "width",
        "height",
        "sha256",
        "stored_as",
        "uploaded_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="size (w×h)")
    def dimensions(self, obj):
        return f"{obj.width}×{obj.height}" if obj.width and obj.height else "-"

    @admin.display(description="stored as")
    def stored_as(self, obj):
        return obj.file.name


# --- Logs (read-only) ------------------------------------------------------------


@admin.register(RoomEvent)
class RoomEventAdmin(ReadOnlyAdmin):
    list_display = ("room", "seq", "kind", "message", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("room__name", "kind")
    list_select_related = ("room", "message")
    show_full_result_count = False
    fields = ("room", "seq", "kind", "message", "payload", "created_at")
    readonly_fields = fields


@admin.register(SearchToken)
class SearchTokenAdmin(ReadOnlyAdmin):
    """Keyed hashes only. Searching hashes the words typed, as message search does."""

    list_display = ("token", "room", "message", "created_at")
    list_select_related = ("room", "message")
    search_fields = ("room__name",)
    search_help_text = "Words are hashed with the search key and matched against the tokens."
    show_full_result_count = False
    fields = ("token", "room", "message", "created_at")
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        words = search.words_of(search_term)
        if not words:
            return found, may_have_duplicates
        tokens = [token for word in words for token in crypto.query_word_tokens(word)]
        return found | queryset.filter(token__in=tokens), may_have_duplicates


@admin.register(RateLimitLog)
class RateLimitLogAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "user", "room", "client_key", "count", "window_start", "window_seconds")
    list_filter = ("event_type", "window_start")
    search_fields = ("event_type", "client_key", "user__username", "user__display_name", "room__name")
    list_select_related = ("user", "room")
    ordering = ("-window_start",)
    fields = ("event_type", "user", "room", "client_key", "count", "window_start", "window_seconds", "bucket")
    readonly_fields = fields


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The notification queue the worker drains: what is due, sent, cancelled or failing."""

    list_display = ("created_at", "user", "room", "channel", "reason", "state", "due_at", "attempts", "sent_at")
    list_filter = ("state", "channel", "reason", "due_at")
    search_fields = ("user__username", "user__display_name", "room__name", "last_error")
    list_select_related = ("user", "room")
    ordering = ("-created_at",)
    fields = ("user", "room", "message", "channel", "reason", "state", "due_at", "attempts", "last_error", "sent_at", "created_at")
    readonly_fields = fields


@admin.register(ThreadFollow)
class ThreadFollowAdmin(ReadOnlyAdmin):
    list_display = ("user", "root", "room", "following", "last_read_seq", "updated_at")
    list_filter = ("following",)
    search_fields = ("user__username", "user__display_name", "room__name")
    list_select_related = ("user", "root", "room")
    ordering = ("-updated_at",)
    fields = ("user", "root", "room", "following", "last_read_seq", "created_at", "updated_at")
    readonly_fields = fields


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("user", "push_service", "user_agent", "created_at", "last_used_at")
    search_fields = ("user__username", "user__display_name", "user_agent")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    fields = ("user", "push_service", "user_agent", "created_at", "last_used_at")
    readonly_fields = fields

    @admin.display(description="Push service")
    def push_service(self, obj):
        # The endpoint's path is a capability of its own: staff see only the host.
        return obj.endpoint.split("/")[2] if obj.endpoint.count("/") >= 2 else ""


@admin.register(NotificationPreferences)
class NotificationPreferencesAdmin(ReadOnlyAdmin):
    list_display = ("user", "desktop_enabled", "sound_enabled", "email_enabled", "email_delay_minutes", "updated_at")
    list_filter = ("email_enabled", "desktop_enabled")
    search_fields = ("user__username", "user__display_name")
    list_select_related = ("user",)
    fields = ("user", "desktop_enabled", "sound_enabled", "email_enabled", "email_delay_minutes", "updated_at")
    readonly_fields = fields


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    """Append-only: every staff member can read it, nobody can change or delete it."""

    list_display = ("created_at", "action", "actor", "room", "target_user", "target_message", "reason_preview")
    list_filter = ("action", "created_at")
    search_fields = (
        "reason",
        "actor__username",
        "actor__display_name",
        "target_user__username",
        "target_user__display_name",
        "room__name",
    )
    list_select_related = ("actor", "room", "target_user", "target_message")
    date_hierarchy = "created_at"
    fields = ("created_at", "action", "actor", "room", "target_user", "target_message", "reason", "details")
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    @admin.display(description="reason")
    def reason_preview(self, obj):
        return Truncator(obj.reason).chars(PREVIEW_LENGTH)


@admin.register(User)
class ChatUserAdmin(ModerationActionsMixin, ModeratorViewMixin, UserAdmin):
    """People. Site moderators see them (to find an account to delete).
    Deleting an account is the action "Delete selected accounts (anonymise)"
    through ``commands.account_delete`` (site moderators; a reason is required
    and kept in the audit log), never a row deletion."""

    action_form = ModerationActionForm
    actions = ("delete_accounts",)
    noun = ("account", "accounts")
    command_ids = {"user_id": "pk"}

    @admin.action(description="Delete selected accounts (anonymise)", permissions=["moderate"])
    def delete_accounts(self, request, queryset):
        if not self.action_options(request)["reason"].strip():
            self.message_user(request, "Give a reason to delete accounts (it is kept in the audit log).", messages.ERROR)
            return
        delete = CommandAction(
            commands.account_delete,
            "",
            done="Deleted {} (anonymised; signed out everywhere).",
            skip=lambda user: not user.is_active and user.username.startswith(DELETED_USERNAME_PREFIX),
            skipped="{} already deleted.",
        )
        self.run_command(request, queryset, delete)

    def save_model(self, request, obj, form, change):
        # Company and support-agent changes go through commands: the person
        # leaves and joins rooms, announced to their members after commit.
        company_changed = "company" in form.changed_data
        agent_changed = "is_support_agent" in form.changed_data
        active_changed = change and "is_active" in form.changed_data
        new_company, new_agent = obj.company, obj.is_support_agent
        if change and company_changed:
            obj.company_id = form.initial.get("company")
        if change and agent_changed:
            obj.is_support_agent = not new_agent
        super().save_model(request, obj, form, change)
        if company_changed or (not change and new_company is not None):
            commands.user_set_company(user=obj, company=new_company)
        if agent_changed:
            commands.user_set_support_agent(user=obj, is_support_agent=new_agent)
        if active_changed:
            commands.user_set_active(user=obj, is_active=obj.is_active)
