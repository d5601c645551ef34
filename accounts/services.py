"""Account use cases: registration, profile (name, avatar, time zone,
password) and blocking. Sessions are in accounts/sessions.py. Changes that reach
into chat (company, support agents, deactivation, logout) are chat's: chat/services/people.py."""

import re
import zoneinfo
from functools import lru_cache, partial

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.dispatch import Signal

from chatsite.core.exceptions import Conflict, Invalid, NotFound
from chatsite.core.text import without_bidi_controls

from . import avatars
from .models import User, UserBlock

# Sent after commit when a person's display name or picture changed (chat
# reloads the person in their open sockets, chat/apps.py).
profile_changed = Signal()


def _announce_profile_change(user: User) -> None:
    transaction.on_commit(partial(profile_changed.send, sender=User, user=user))


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """The IANA zones this server knows (zoneinfo.available_timezones())."""
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(value: str) -> str:
    """``value`` if it is a known IANA zone (or empty: the browser's own); else Invalid."""
    if value and value not in time_zones():
        raise Invalid(
            f"Unknown time zone {value[:64]!r}: use an IANA name such as Europe/Paris, or leave it empty.",
            code="invalid_time_zone",
            fields={"time_zone": ["Unknown time zone."]},
        )
    return value


@transaction.atomic
def user_block(*, blocker: User, blocked: User) -> UserBlock:
    """``blocked`` can no longer open or write to a direct room with ``blocker`` (nor the reverse)."""
    if blocker.pk == blocked.pk:
        raise Invalid("You cannot block yourself.", code="block_self")
    existing = UserBlock.objects.filter(blocker=blocker, blocked=blocked).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return UserBlock.objects.create(blocker=blocker, blocked=blocked)
    except IntegrityError:
        return UserBlock.objects.get(blocker=blocker, blocked=blocked)


@transaction.atomic
def user_unblock(*, blocker: User, blocked: User) -> None:
    deleted, _ = UserBlock.objects.filter(blocker=blocker, blocked=blocked).delete()
    if not deleted:
        raise NotFound("You have not blocked this user.", code="block_not_found")


@transaction.atomic
def user_register(*, username: str, password: str, email: str = "", display_name: str = "") -> User:
    """A new account (no company: staff put people in companies)."""
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("This username is taken.", code="username_taken", fields={"username": ["Taken."]})
    if email and User.objects.filter(email__iexact=email).exists():
        raise Conflict("This email is already registered.", code="email_taken", fields={"email": ["Taken."]})
    try:
        with transaction.atomic():
            return User.objects.create_user(
                username=username, password=password, email=email, display_name=without_bidi_controls(display_name)
            )
    except IntegrityError:
        raise Conflict("This username or email is taken.", code="username_taken") from None


@transaction.atomic
def user_update_profile(*, user: User, **changes) -> User:
    fields = []
    if "display_name" in changes:
        changes["display_name"] = without_bidi_controls(changes["display_name"])
    if "time_zone" in changes:
        changes["time_zone"] = check_time_zone(changes["time_zone"])
    for field in ("display_name", "email", "time_zone"):
        if field in changes:
            setattr(user, field, changes[field])
            fields.append(field)
    if "email" in changes and changes["email"] and (
        User.objects.filter(email__iexact=changes["email"]).exclude(pk=user.pk).exists()
    ):
        raise Conflict("This email is already registered.", code="email_taken", fields={"email": ["Taken."]})
    if fields:
        user.save(update_fields=fields + ["updated_at"])
        if "display_name" in fields:
            _announce_profile_change(user)
    return user


@transaction.atomic
def user_set_avatar(*, user: User, upload) -> User:
    """Replace the person's avatar with ``upload`` (accounts/avatars.py checks
    and renders it; raises TooLarge, UnsupportedType or Invalid). The old
    files are deleted after commit."""
    rendered = avatars.render_sizes(upload)
    old_key = User.objects.select_for_update().filter(pk=user.pk).values_list("avatar_key", flat=True).first() or ""
    key = avatars.store(user.pk, rendered)
    try:
        user.avatar_key = key
        user.save(update_fields=["avatar_key", "updated_at"])
    except Exception:
        avatars.delete(user.pk, key)
        raise
    transaction.on_commit(partial(avatars.delete, user.pk, old_key))
    _announce_profile_change(user)
    return user


@transaction.atomic
def user_remove_avatar(*, user: User) -> User:
    old_key = User.objects.select_for_update().filter(pk=user.pk).values_list("avatar_key", flat=True).first() or ""
    if old_key or user.avatar_key:
        user.avatar_key = ""
        user.save(update_fields=["avatar_key", "updated_at"])
        transaction.on_commit(partial(avatars.delete, user.pk, old_key))
        _announce_profile_change(user)
    return user


def user_change_password(*, user: User, current_password: str, new_password: str) -> User:
    """Check the current password and Django's validators (AUTH_PASSWORD_VALIDATORS),
    then set the new one. Raises Invalid: ``wrong_password`` or ``weak_password``
    (``fields.new_password`` lists the validators' messages). Ending the other
    sessions is the caller's (accounts/sessions.py), after this."""
    if not user.check_password(current_password):
        raise Invalid(
            "The current password is wrong.", code="wrong_password", fields={"current_password": ["Wrong password."]}
        )
    if new_password == current_password:
        raise Invalid(
            "The new password is the same as the current one.", code="same_password",
            fields={"new_password": ["The same as the current one."]},
        )
    try:
        validate_password(new_password, user=user)
    except DjangoValidationError as exc:
        raise Invalid(
            "The new password is too weak: " + " ".join(exc.messages), code="weak_password", fields={"new_password": exc.messages}
        ) from None
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
    return user


def _free_username(wanted: str) -> str:
    """``wanted`` made a valid username, with a number added when it is taken."""
    base = re.sub(r"[^\w.@+-]", "", wanted.replace(" ", ".")).strip(".")[:140] or "user"
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}{number}"
    return candidate


@transaction.atomic
def user_create_invited(*, username: str, email: str = "", display_name: str = "", company=None) -> User:
    """An account made for someone else (an import): inactive, with no usable
    password, until they set one from their invitation. The username is
    ``username`` or, when taken, the same with a number."""
    user = User(
        username=_free_username(username),
        email=email,
        display_name=without_bidi_controls(display_name)[:150],
        company=company,
        is_active=False,
    )
    user.set_unusable_password()
    user.save(force_insert=True)
    return user
