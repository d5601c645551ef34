"""Invitations of imported people: an email with a link to set a password,
which activates the account (Django's password reset tokens: the link works
once, and only until the password changes or PASSWORD_RESET_TIMEOUT passes)."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode


def invitation_url(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.CHAT_SITE_URL + reverse("imports:invitation", args=[uid, token])


def send_invitation(user) -> None:
    """Email ``user`` (inactive, imported) a link to set their password."""
    context = {"user": user, "url": invitation_url(user), "site_url": settings.CHAT_SITE_URL}
    send_mail(
        subject="Your chat history has moved: set your password",
        message=render_to_string("imports/invitation_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
