"""The people directory: whom I can find to start a conversation with, and
people's avatars (shown to whoever may see the person).

Chat questions (they depend on room memberships), so they live in chat; their
URLs stay under ``/api/users/`` beside the accounts endpoints."""

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import avatars
from accounts.serializers import UserSerializer
from chatsite.core.exceptions import Invalid, NotFound

from ..models import ChatMember
from .common import ERRORS

User = get_user_model()
DIRECTORY_LIMIT = 50


class DirectoryView(APIView):
    @extend_schema(
        summary="People I can see: my company and anyone I share a room with",
        parameters=[OpenApiParameter("q", str, description="Part of a username or display name")],
        responses={200: UserSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]},
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        if len(q) > 100 or "\x00" in q:
            raise Invalid("q is limited to 100 characters.", code="invalid", fields={"q": ["At most 100 characters."]})
        shared_rooms = ChatMember.objects.filter(user=request.user, is_active=True).values("room_id")
        visible = Q(chat_memberships__room_id__in=shared_rooms, chat_memberships__is_active=True)
        if request.user.company_id:
            visible |= Q(company_id=request.user.company_id)
        users = User.objects.filter(is_active=True).filter(visible)
        if q:
            users = users.filter(Q(username__icontains=q) | Q(display_name__icontains=q))
        users = users.exclude(pk=request.user.pk).distinct().order_by("username")[:DIRECTORY_LIMIT]
        return Response(UserSerializer(users, many=True).data)


def may_see(viewer, person) -> bool:
    """Whether ``viewer`` may see ``person``'s avatar: themselves, the same
    company, or an active member of a room ``viewer`` is in (the people whose
    payloads reach them)."""
    if viewer.pk == person.pk or (viewer.company_id and viewer.company_id == person.company_id):
        return True
    my_rooms = ChatMember.objects.filter(user=viewer, is_active=True).values("room_id")
    return ChatMember.objects.filter(user=person, room_id__in=my_rooms).exists()


class AvatarView(APIView):
    @extend_schema(
        summary="A person's avatar, a square WebP (sizes 32, 64, 128); the URL changes with each new avatar, so it is cached for good",
        responses={(200, "image/webp"): OpenApiTypes.BINARY, 401: ERRORS[401], 404: ERRORS[404]},
    )
    def get(self, request, user_id, key, size):
        person = User.objects.filter(pk=user_id).only("pk", "company_id", "avatar_key").first()
        if person is None or not person.avatar_key or person.avatar_key != key or size not in avatars.SIZES:
            raise NotFound("No such avatar.", code="avatar_not_found")
        if not may_see(request.user, person):
            raise NotFound("No such avatar.", code="avatar_not_found")
        try:
            handle = avatars.open_file(person.pk, key, size)
        except OSError:
            raise NotFound("No such avatar.", code="avatar_not_found") from None
        response = FileResponse(handle, content_type="image/webp")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response
