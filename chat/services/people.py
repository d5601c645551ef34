"""Account changes that reach into chat: a person's company (its company
rooms), support agents (the open support rooms), deactivation and logout
(their sockets). The accounts app never imports chat; staff and API edges
call these through chat.commands."""

from django.db import transaction

from accounts.models import Company, User
from chatsite.core.exceptions import Invalid

from ..events import broadcast, wire
from .rooms import (
    company_rooms_add_user,
    company_rooms_remove_user,
    support_rooms_add_agent,
)


@transaction.atomic
def user_set_company(*, user: User, company: Company | None) -> User:
    """Move ``user`` into ``company`` (or out of any): they leave the old company's
    rooms and join every active company room of the new one, announced live."""
    if company is not None and not company.is_active:
        raise Invalid("This company is inactive.", code="company_inactive")
    previous = User.objects.filter(pk=user.pk).values_list("company_id", flat=True).first()
    new_id = company.pk if company is not None else None
    if previous != new_id:
        user.company = company
        user.save(update_fields=["company", "updated_at"])
        if previous is not None:
            company_rooms_remove_user(user=user, company_id=previous)
    company_rooms_add_user(user=user)
    return user


@transaction.atomic
def user_set_support_agent(*, user: User, is_support_agent: bool) -> User:
    """Make ``user`` a support agent (they join every open support room) or not."""
    if user.is_support_agent != is_support_agent or (
        not User.objects.filter(pk=user.pk, is_support_agent=is_support_agent).exists()
    ):
        user.is_support_agent = is_support_agent
        user.save(update_fields=["is_support_agent", "updated_at"])
    if is_support_agent:
        support_rooms_add_agent(user=user)
    return user


@transaction.atomic
def user_set_active(*, user: User, is_active: bool) -> User:
    """Activate or deactivate an account; a deactivated user's sockets close at once."""
    if user.is_active != is_active or not User.objects.filter(pk=user.pk, is_active=is_active).exists():
        user.is_active = is_active
        user.save(update_fields=["is_active", "updated_at"])
    if not is_active:
        broadcast.disconnect_user(user.pk, reason="deactivated", code=wire.CLOSE_UNAUTHENTICATED)
    return user


def user_logged_out(*, user: User) -> None:
    """Close the user's WebSockets (4001): an access token or session may have ended."""
    broadcast.disconnect_user(user.pk, reason="logged_out", code=wire.CLOSE_LOGGED_OUT)


def user_profile_changed(*, user: User) -> None:
    """The person's name or picture changed: their open sockets send the new ones."""
    broadcast.profile_changed(user.pk)


def user_sessions_revoked(*, user: User, session_ids: list, keep_session_id: str | None) -> None:
    """Close the WebSockets of ended sessions (4001): with ``keep_session_id``
    every socket but that session's ("log out everywhere else", a password
    change), else only those of ``session_ids``."""
    if keep_session_id is not None:
        broadcast.disconnect_user(user.pk, reason="session_revoked", keep_session=keep_session_id)
    elif session_ids:
        broadcast.disconnect_user(user.pk, reason="session_revoked", sessions=list(session_ids))
