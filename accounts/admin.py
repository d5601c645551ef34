"""Admin for companies, people and blocks.

The people admin is registered by chat/admin.py: a change of company, support
role or activity goes through chat's commands there, so a person moved into a
company joins its company rooms at once (and their members see
``member.added`` live), exactly as when it happens elsewhere.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count

from chatsite.core.text import without_bidi_controls

from .models import Company, User, UserBlock

CHAT_FIELDS = ("display_name", "company", "is_support_agent")


class NeverAddedOrDeletedMixin:
    """Rows made and ended by the product (or by people), never added or deleted
    through admin, also not by superusers. For model admins and inlines alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NeverAddedOrDeletedMixin):
    """Viewable only: never added, changed or deleted through admin."""

    def has_change_permission(self, request, obj=None):
        return False


class CompanyChoiceMixin:
    """Refuses moving someone into an inactive company (the service would refuse it too,
    but only after the form was accepted); a display name loses its bidi controls
    as it does through the API."""

    def clean_display_name(self):
        return without_bidi_controls(self.cleaned_data.get("display_name") or "")

    def clean_company(self):
        company = self.cleaned_data.get("company")
        if company is not None and "company" in self.changed_data and not company.is_active:
            raise forms.ValidationError("This company is inactive; nobody can join it.")
        return company


class ChatUserChangeForm(CompanyChoiceMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User


class ChatUserCreationForm(CompanyChoiceMixin, AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email", *CHAT_FIELDS)


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "user_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    ordering = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(user_count=Count("users"))

    @admin.display(description="people", ordering="user_count")
    def user_count(self, obj):
        return obj.user_count


class UserAdmin(DjangoUserAdmin):
    """People: registered by chat/admin.py, whose subclass adds what a change of
    company, support role or activity means for chat (accounts never imports chat)."""

    form = ChatUserChangeForm
    add_form = ChatUserCreationForm
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Chat", {"fields": CHAT_FIELDS}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Chat", {"classes": ("wide",), "fields": ("email", *CHAT_FIELDS)}),
    )
    list_display = (
        "username",
        "display_name",
        "email",
        "company",
        "is_support_agent",
        "is_staff",
        "is_active",
        "date_joined",
    )
    list_filter = ("is_support_agent", "is_staff", "is_superuser", "is_active", "company", "groups")
    search_fields = ("username", "display_name", "first_name", "last_name", "email", "company__name")
    list_select_related = ("company",)
    ordering = ("username",)


@admin.register(UserBlock)
class UserBlockAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Blocks are each person's own decision: moderators can see them, not make or lift them."""

    list_display = ("blocker", "blocked", "created_at")
    list_filter = ("created_at",)
    search_fields = (
        "blocker__username",
        "blocker__display_name",
        "blocked__username",
        "blocked__display_name",
    )
    list_select_related = ("blocker", "blocked")
    fields = ("blocker", "blocked", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)
