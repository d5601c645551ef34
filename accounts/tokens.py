"""JWTs tied to a session (accounts/sessions.py): each refresh token carries
its session's id (``sid``); access tokens copy it.

- Obtaining a pair starts an API session; a refresh is refused once its
  session is revoked (besides the blacklist), and notes the session as seen.
- :class:`SessionJWTAuthentication` refuses an access token whose session is
  gone, in the same query that loads the user: revoking ends access tokens at
  once. Tokens issued without ``sid`` (before sessions were tracked) are taken
  until they expire; the next refresh gives them a session.
"""

import uuid

from django.contrib.auth.models import update_last_login
from django.db.models import Exists, OuterRef
from django.utils import timezone
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenObtainSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from . import sessions
from .models import User, UserSession


def _sid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def token_pair(*, user: User, request) -> dict:
    """A new API session and its first JWT pair."""
    session = sessions.api_session_start(user=user, request=request)
    refresh = sessions.refresh_token_for(user=user, session=session)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class SessionTokenObtainPairSerializer(TokenObtainPairSerializer):
    def validate(self, attrs):
        TokenObtainSerializer.validate(self, attrs)  # authenticates: self.user
        data = token_pair(user=self.user, request=self.context.get("request"))
        if api_settings.UPDATE_LAST_LOGIN:
            update_last_login(None, self.user)
        return data


class SessionTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        refresh = RefreshToken(attrs["refresh"])  # signature, expiry, blacklist
        sid = _sid(refresh.get(sessions.SID_CLAIM))
        user_id = refresh.get(api_settings.USER_ID_CLAIM)
        request = self.context.get("request")
        agent, ip = sessions.request_device(request)
        if refresh.get(sessions.SID_CLAIM) is not None:
            seen = {"last_seen_at": timezone.now(), "ip": ip, **({"user_agent": agent} if agent else {})}
            if sid is None or not UserSession.objects.filter(pk=sid, user_id=user_id).update(**seen):
                raise InvalidToken("This session has ended: log in again.")
        data = super().validate(attrs)
        if sid is None and user_id:
            # Issued before sessions were tracked: the new token starts one.
            user = User.objects.filter(pk=user_id).first()
            if user is not None:
                session = sessions.api_session_start(user=user, request=request)
                rotated = RefreshToken(data["refresh"], verify=False)
                rotated[sessions.SID_CLAIM] = str(session.pk)
                OutstandingToken.objects.filter(jti=rotated["jti"]).update(token=str(rotated))
                data = {"access": str(rotated.access_token), "refresh": str(rotated)}
        return data


class SessionJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing a token whose session was revoked."""

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None
        users = User.objects.filter(pk=user_id)
        has_sid = validated_token.get(sessions.SID_CLAIM) is not None
        if has_sid:
            sid = _sid(validated_token.get(sessions.SID_CLAIM))
            users = users.annotate(session_alive=Exists(UserSession.objects.filter(pk=sid, user_id=OuterRef("pk"))))
        try:
            user = users.get()
        except (User.DoesNotExist, ValueError):
            raise AuthenticationFailed("User not found", code="user_not_found") from None
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if has_sid and not user.session_alive:
            raise AuthenticationFailed("This session has ended: log in again.", code="session_ended")
        return user


class SessionJWTScheme(SimpleJWTScheme):
    """The OpenAPI schema describes it as simplejwt's bearer scheme."""

    target_class = "accounts.tokens.SessionJWTAuthentication"
