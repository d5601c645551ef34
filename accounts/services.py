"""Account use cases: company membership and blocking."""

from django.db import IntegrityError, transaction

from chat.exceptions import Invalid, NotFound
from chat.services import company_rooms_add_user

from .models import Company, User, UserBlock


@transaction.atomic
def user_join_company(*, user: User, company: Company) -> User:
    """Put ``user`` in ``company``; they join every active company room of it at once."""
    if not company.is_active:
        raise Invalid("This company is inactive.", code="company_inactive")
    if user.company_id != company.pk:
        user.company = company
        user.save(update_fields=["company", "updated_at"])
    company_rooms_add_user(user=user)
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
