"""The people directory: whom I can find to start a conversation with.

A chat question (it depends on room memberships), so it lives in chat; its
URL stays ``/api/users/`` beside the accounts endpoints."""

from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import UserSerializer
from chatsite.core.exceptions import Invalid

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
