"""Auth and user endpoints: register, JWT obtain/refresh/logout, me (profile,
avatar, password, time zone), sessions, blocking and single-use WebSocket tickets. (The directory, people one shares a room
with, is chat's: chat/api/users.py.)

Logging out sends Django's ``user_logged_out`` signal (once, whichever way one
was signed in); chat closes the person's WebSockets on it (chat/apps.py), so
accounts never imports chat."""

from django.contrib.auth import SESSION_KEY, get_user_model, update_session_auth_hash
from django.contrib.auth import logout as session_logout
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from chatsite.core import ratelimit
from chatsite.core.api_errors import ErrorSerializer
from chatsite.core.exceptions import Invalid, NotFound

from . import services, sessions, tickets
from .models import UserBlock, UserSession
from .serializers import (
    AvatarInputSerializer,
    BlockedUserSerializer,
    MeSerializer,
    PasswordChangeInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    RegisterResponseSerializer,
    SessionSerializer,
    SessionsEndedSerializer,
    TicketSerializer,
    TokenPairSerializer,
)
from .tokens import SessionTokenObtainPairSerializer, SessionTokenRefreshSerializer, token_pair

User = get_user_model()


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _err(*codes):
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="Create an account (returns a JWT pair)",
        request=RegisterInputSerializer,
        responses={201: RegisterResponseSerializer, **_err(400, 409, 413, 415, 429)},
    )
    def post(self, request):
        ratelimit.check(kind="auth.register", client_key=client_ip(request))
        serializer = RegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        candidate = User(username=data["username"], email=data["email"], display_name=data["display_name"])
        try:
            validate_password(data["password"], user=candidate)
        except DjangoValidationError as exc:
            raise Invalid("The password is too weak.", code="weak_password", fields={"password": exc.messages}) from None
        user = services.user_register(
            username=data["username"], password=data["password"], email=data["email"], display_name=data["display_name"]
        )
        return Response({"user": MeSerializer(user).data, **token_pair(user=user, request=request)}, status=201)


class LoginView(TokenObtainPairView):
    """Obtain a JWT pair (a new API session); rate-limited per client address."""

    serializer_class = SessionTokenObtainPairSerializer

    @extend_schema(summary="Obtain a JWT pair", responses={200: TokenPairSerializer, **_err(400, 401, 413, 415, 429)})
    def post(self, request, *args, **kwargs):
        ratelimit.check(kind="auth.login", client_key=client_ip(request))
        return super().post(request, *args, **kwargs)


class RefreshView(TokenRefreshView):
    """Refresh: rotation on, the old refresh token is blacklisted; refused once its session was revoked."""

    serializer_class = SessionTokenRefreshSerializer

    @extend_schema(
        summary="Refresh a JWT pair (rotating)", responses={200: TokenPairSerializer, **_err(400, 401, 413, 415, 429)}
    )
    def post(self, request, *args, **kwargs):
        ratelimit.check(kind="auth.login", client_key=client_ip(request))
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Log out: blacklist the refresh token (and end the session); closes your WebSockets",
        request=RefreshInputSerializer,
        responses={204: None, **_err(400, 401, 413, 415)},
    )
    def post(self, request):
        # A session cookie alone (even a stale one) must not stand in for the refresh token.
        signed_in_by_session = str(request.session.get(SESSION_KEY, "")) == str(request.user.pk)
        refresh = request.data.get("refresh") if hasattr(request.data, "get") else None
        if refresh:
            if not isinstance(refresh, str):
                raise Invalid("refresh must be a string.", code="invalid", fields={"refresh": ["Must be a string."]})
            try:
                token = RefreshToken(refresh)
            except TokenError:
                raise Invalid(
                    "The refresh token is invalid or expired.", code="token_not_valid", fields={"refresh": ["Invalid."]}
                ) from None
            if str(token.get("user_id")) != str(request.user.pk):
                raise Invalid(
                    "This refresh token belongs to someone else.", code="token_not_valid", fields={"refresh": ["Invalid."]}
                )
            token.blacklist()
            if token.get(sessions.SID_CLAIM):
                UserSession.objects.filter(pk=token[sessions.SID_CLAIM], user=request.user).delete()
        elif not signed_in_by_session:
            raise Invalid("Give the refresh token to log out.", code="refresh_required", fields={"refresh": ["Required."]})
        if signed_in_by_session:
            session_logout(request._request)  # sends user_logged_out itself
        else:
            user_logged_out.send(sender=type(request.user), request=request._request, user=request.user)
        return Response(status=204)


class MeView(APIView):
    @extend_schema(summary="Who am I", responses={200: MeSerializer, **_err(401)})
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        summary="Update my profile", request=MeSerializer, responses={200: MeSerializer, **_err(400, 401, 409, 413, 415)}
    )
    def patch(self, request):
        serializer = MeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        ratelimit.check(kind="settings", user=request.user)
        user = services.user_update_profile(user=request.user, **serializer.validated_data)
        return Response(MeSerializer(user).data)


class AvatarView(APIView):
    @extend_schema(
        summary="Upload my avatar (multipart, field 'file'): cropped to a square, stored as 32, 64 and 128 px WebP",
        request={"multipart/form-data": AvatarInputSerializer},
        responses={200: MeSerializer, **_err(400, 401, 413, 415, 429)},
    )
    def put(self, request):
        serializer = AvatarInputSerializer(data=request.data)
        if not serializer.is_valid():
            raise Invalid("Send the picture as the multipart field 'file'.", code="file_required", fields={"file": ["Required."]})
        ratelimit.check(kind="upload", user=request.user)
        user = services.user_set_avatar(user=request.user, upload=serializer.validated_data["file"])
        return Response(MeSerializer(user).data)

    post = put

    @extend_schema(summary="Remove my avatar (initials are shown)", request=None, responses={200: MeSerializer, **_err(401, 429)})
    def delete(self, request):
        ratelimit.check(kind="settings", user=request.user)
        user = services.user_remove_avatar(user=request.user)
        return Response(MeSerializer(user).data)


class PasswordChangeView(APIView):
    @extend_schema(
        summary="Change my password; my other sessions end (their refresh tokens, sessions and sockets)",
        request=PasswordChangeInputSerializer,
        responses={200: SessionsEndedSerializer, **_err(400, 401, 413, 415, 429)},
    )
    def post(self, request):
        serializer = PasswordChangeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit.check(kind="settings", user=request.user)
        data = serializer.validated_data
        user = services.user_change_password(
            user=request.user, current_password=data["current_password"], new_password=data["new_password"]
        )
        keep = sessions.current_session_id(request)
        if str(request.session.get(SESSION_KEY, "")) == str(user.pk):
            # This browser stays signed in (Django would otherwise end it with the old hash).
            update_session_auth_hash(request._request, user)
            sessions.browser_session_key_changed(request=request)
        ended = sessions.user_sessions_revoke_others(user=user, keep_id=keep)
        return Response({"ended": len(ended)})


def _session_json(info: sessions.SessionInfo) -> dict:
    return {
        "id": info.id,
        "kind": info.kind,
        "device": sessions.describe_device(info.user_agent) if info.kind == "browser" or info.user_agent else "API client",
        "user_agent": info.user_agent,
        "ip": info.ip,
        "created_at": info.created_at,
        "last_seen_at": info.last_seen_at,
        "current": info.current,
    }


class SessionListView(APIView):
    @extend_schema(summary="My sessions: browsers and API clients, the most recently used first", responses={200: SessionSerializer(many=True), **_err(401)})
    def get(self, request):
        infos = sessions.user_session_list(user=request.user, current_id=sessions.current_session_id(request))
        return Response(SessionSerializer([_session_json(info) for info in infos], many=True).data)


class SessionView(APIView):
    @extend_schema(
        summary="End one of my other sessions (its refresh tokens, its browser session, its sockets)",
        request=None,
        responses={204: None, **_err(400, 401, 404, 429)},
    )
    def delete(self, request, session_id):
        ratelimit.check(kind="settings", user=request.user)
        sessions.user_session_revoke(user=request.user, session_id=session_id, current_id=sessions.current_session_id(request))
        return Response(status=204)


class SessionsLogoutOthersView(APIView):
    @extend_schema(
        summary="Log out everywhere else: end every session but this one",
        request=None,
        responses={200: SessionsEndedSerializer, **_err(401, 429)},
    )
    def post(self, request):
        ratelimit.check(kind="settings", user=request.user)
        ended = sessions.user_sessions_revoke_others(user=request.user, keep_id=sessions.current_session_id(request))
        return Response({"ended": len(ended)})


class BlockListView(APIView):
    @extend_schema(summary="People I blocked, the most recent first", responses={200: BlockedUserSerializer(many=True), **_err(401)})
    def get(self, request):
        blocks = UserBlock.objects.filter(blocker=request.user).select_related("blocked").order_by("-created_at")
        return Response(BlockedUserSerializer(blocks, many=True).data)


class BlockView(APIView):
    @extend_schema(summary="Block a user", request=None, responses={204: None, **_err(400, 401, 404, 429)})
    def post(self, request, user_id):
        ratelimit.check(kind="settings", user=request.user)
        other = User.objects.filter(pk=user_id, is_active=True).first()
        if other is None:
            raise NotFound("User not found.", code="user_not_found")
        services.user_block(blocker=request.user, blocked=other)
        return Response(status=204)

    @extend_schema(summary="Unblock a user", request=None, responses={204: None, **_err(401, 404, 429)})
    def delete(self, request, user_id):
        ratelimit.check(kind="settings", user=request.user)
        other = User.objects.filter(pk=user_id).first()
        if other is None:
            raise NotFound("User not found.", code="user_not_found")
        services.user_unblock(blocker=request.user, blocked=other)
        return Response(status=204)


class WsTicketView(APIView):
    @extend_schema(
        summary="A single-use WebSocket ticket, valid 30 s (connect with /ws/chat/?ticket=…)",
        request=None,
        responses={201: TicketSerializer, **_err(401, 429)},
    )
    def post(self, request):
        ratelimit.check(kind="ws.connect", user=request.user)
        ticket = tickets.issue(request.user, session_id=sessions.current_session_id(request))
        # A credential: no cache keeps it (the same answer as accounts/ticket_asgi.py's).
        return Response({"ticket": ticket, "expires_in": tickets.TTL_SECONDS}, status=201, headers={"Cache-Control": "no-store"})
