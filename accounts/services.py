"""Account use cases: company membership and blocking."""

from django.db import IntegrityError, transaction

from chat import events
from chat.exceptions import Conflict, Invalid, NotFound
from chat.services import company_rooms_add_user, company_rooms_remove_user, support_rooms_add_agent

from .models import Company, User, UserBlock


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


def user_join_company(*, user: User, company: Company) -> User:
    return user_set_company(user=user, company=company)


@transaction.atomic
def user_set_support_agent(*, user: User, is_support_agent: bool) -> User:
    """Make ``user`` a support agent (they join every open support room) or not."""
    if user.is_support_agent != is_support_agent or (
        User.objects.filter(pk=user.pk, is_support_agent=is_support_agent).count() == 0
    ):
        user.is_support_agent = is_support_agent
        user.save(update_fields=["is_support_agent", "updated_at"])
    if is_support_agent:
        support_rooms_add_agent(user=user)
    return user


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
                username=username, password=password, email=email, display_name=display_name
            )
    except IntegrityError:
        raise Conflict("This username or email is taken.", code="username_taken") from None


@transaction.atomic
def user_update_profile(*, user: User, **changes) -> User:
    fields = []
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


def user_logged_out(*, user: User) -> None:
    """Close the user's WebSockets: an access token or session may have ended."""
    events.disconnect_user(user.pk, reason="logged_out")


@transaction.atomic
def user_set_active(*, user: User, is_active: bool) -> User:
    """Activate or deactivate an account; a deactivated user's sockets are closed at once."""
    if user.is_active != is_active or not User.objects.filter(pk=user.pk, is_active=is_active).exists():
        user.is_active = is_active
        user.save(update_fields=["is_active", "updated_at"])
    if not is_active:
        events.disconnect_user(user.pk, reason="deactivated")
    return user
