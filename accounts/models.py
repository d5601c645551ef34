import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from chatsite.core.models import BaseModel


class Company(BaseModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(blank=True)
    display_name = models.CharField(max_length=150, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="users"
    )
    is_support_agent = models.BooleanField(
        default=False, help_text="Support agents are added to every support room."
    )
    # The current avatar's files are avatars/<id>/<avatar_key>-<size>.webp; empty: none.
    # A new upload gets a new key, so an avatar URL never changes what it shows.
    avatar_key = models.CharField(max_length=32, blank=True, editable=False)
    # An IANA zone ("Europe/Paris") for displayed times; empty: the browser's own.
    time_zone = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["company", "is_active"])]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="accounts_user_email_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.display_name or self.username


class UserBlock(BaseModel):
    """``blocker`` blocked ``blocked``: no direct room between them can be opened or written to."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks_received")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="accounts_block_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="accounts_block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker} blocked {self.blocked}"


class SessionKind(models.TextChoices):
    BROWSER = "browser", "Browser"
    API = "api", "API client"


class UserSession(BaseModel):
    """One signed-in device: a browser's Django session, or an API client's
    chain of rotating refresh tokens (their ``sid`` claim is this row's id).
    Deleting the row ends the session (accounts/sessions.py)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    kind = models.CharField(max_length=10, choices=SessionKind.choices)
    # Browser sessions: the Django session's current key (it changes when the key is cycled).
    session_key = models.CharField(max_length=40, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "-last_seen_at"], name="accounts_session_user_seen")]

    def __str__(self) -> str:
        return f"{self.kind} session of {self.user_id}"
