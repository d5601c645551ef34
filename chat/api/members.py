"""A room's members: list, add, change role, remove, mute, unmute, ban, unban."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from chat import commands, policies, selectors
from chat.events import render

from . import serializers as s
from .common import body_errors, errors, parse


@extend_schema_view(
    list=extend_schema(
        summary="Active members of a room (?include=banned adds banned people, for owners and admins)",
        parameters=[OpenApiParameter("include", str, enum=["banned"])],
        responses={200: s.MemberSerializer(many=True), **errors(403)},
    ),
    create=extend_schema(
        summary="Add a member", request=s.MemberAddInputSerializer, responses={201: s.MemberSerializer, **body_errors(403, 409)}
    ),
    partial_update=extend_schema(
        summary="Change a member's role", request=s.RoleInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)}
    ),
    destroy=extend_schema(summary="Remove a member", request=None, responses={204: None, **errors(403)}),
)
class RoomMemberViewSet(viewsets.ViewSet):
    lookup_field = "user_id"
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def list(self, request, room_pk=None):
        room = selectors.room_get_for_member(room_id=room_pk, user=request.user)
        query = parse(s.MemberListQuerySerializer, request.query_params)
        include_banned = query.get("include") == "banned"
        if include_banned:
            policies.require_moderator(room, request.user)
        members = selectors.member_list(room=room, include_banned=include_banned)
        return Response([render.member_payload(m) for m in members])

    def create(self, request, room_pk=None):
        data = parse(s.MemberAddInputSerializer, request.data)
        member = commands.member_add(actor=request.user, room_id=room_pk, user_id=data["user_id"], role=data["role"])
        return Response(render.member_payload(member), status=201)

    def partial_update(self, request, room_pk=None, user_id=None):
        data = parse(s.RoleInputSerializer, request.data)
        member = commands.member_change_role(actor=request.user, room_id=room_pk, user_id=user_id, role=data["role"])
        return Response(render.member_payload(member))

    def destroy(self, request, room_pk=None, user_id=None):
        commands.member_remove(actor=request.user, room_id=room_pk, user_id=user_id)
        return Response(status=204)

    def _moderate(self, command, request, room_pk, user_id, **arguments):
        """Unmute, ban, unban: a reason in the body, the member in the answer."""
        data = parse(s.ReasonInputSerializer, request.data)
        member = command(actor=request.user, room_id=room_pk, user_id=user_id, reason=data["reason"], **arguments)
        return Response(render.member_payload(member))

    @extend_schema(summary="Mute a member (until a time, or for minutes)", request=s.MuteInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def mute(self, request, room_pk=None, user_id=None):
        data = parse(s.MuteInputSerializer, request.data)
        until = data.get("until") or timezone.now() + timedelta(minutes=data["minutes"])
        member = commands.member_mute(
            actor=request.user, room_id=room_pk, user_id=user_id, until=until, reason=data["reason"]
        )
        return Response(render.member_payload(member))

    @extend_schema(summary="Unmute a member", request=s.ReasonInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def unmute(self, request, room_pk=None, user_id=None):
        return self._moderate(commands.member_unmute, request, room_pk, user_id)

    @extend_schema(summary="Ban a member", request=s.ReasonInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def ban(self, request, room_pk=None, user_id=None):
        return self._moderate(commands.member_ban, request, room_pk, user_id)

    @extend_schema(summary="Lift a ban", request=s.ReasonInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def unban(self, request, room_pk=None, user_id=None):
        return self._moderate(commands.member_unban, request, room_pk, user_id)
