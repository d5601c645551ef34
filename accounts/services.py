"""Account use cases: registration, profile and blocking. Changes that reach
into chat (company, support agents, deactivation, logout) are chat's: chat/services/people.py."""

import re

from django.db import IntegrityError, transaction

from chatsite.core.exceptions import Conflict, Invalid, NotFound
from chatsite.core.text import without_bidi_controls

from .models import User, UserBlock


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
    for field in ("display_name", "email"):
        if field in changes:
            setattr(user, field, changes[field])
            fields.append(field)
    if "email" in changes and changes["email"] and (
        User.objects.filter(email__iexact=changes["email"]).exclude(pk=user.pk).exists()
    ):
        raise Conflict("This email is already registered.", code="email_taken", fields={"email": ["Taken."]})
    if fields:
        user.save(update_fields=fields + ["updated_at"])
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
