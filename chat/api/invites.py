"""Invite links: a room's owners and admins list, make and revoke them; a
logged-in person previews one and joins with it. The page behind a link is
chat.web.invite_page."""

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import commands, selectors

from . import serializers as s
from .common import body_errors, errors, parse
from .rooms import room_item


class RoomInviteListView(APIView):
    @extend_schema(summary="The room's live invite links (owners and admins)", responses={200: s.InviteSerializer(many=True), **errors(403)})
    def get(self, request, room_pk):
        return Response(s.InviteSerializer(selectors.room_invites(room_id=room_pk, user=request.user), many=True).data)

    @extend_schema(
        summary="Make an invite link to a group room (owners and admins)",
        request=s.InviteCreateInputSerializer,
        responses={201: s.InviteSerializer, **body_errors(403)},
    )
    def post(self, request, room_pk):
        data = parse(s.InviteCreateInputSerializer, request.data)
        invite = commands.invite_create(
            actor=request.user,
            room_id=room_pk,
            role=data["role"],
            expires_in=timedelta(seconds=data["expires_in"]),
            max_uses=data["max_uses"],
        )
        return Response(s.InviteSerializer(invite).data, status=201)


class RoomInviteView(APIView):
    @extend_schema(summary="Revoke an invite link (owners and admins)", request=None, responses={204: None, **errors(403)})
    def delete(self, request, room_pk, invite_id):
        commands.invite_revoke(actor=request.user, room_id=room_pk, invite_id=invite_id)
        return Response(status=204)


class InviteView(APIView):
    @extend_schema(
        summary="What an invite link leads to (the room's name, description and size)",
        responses={200: s.InvitePreviewSerializer, **errors(403, 410)},
    )
    def get(self, request, code):
        return Response(selectors.invite_preview(code=code, user=request.user))


class InviteJoinView(APIView):
    @extend_schema(
        summary="Join the room of an invite link (201 when joined now, 200 when already a member)",
        request=None,
        responses={201: s.RoomListItemSerializer, 200: s.RoomListItemSerializer, **errors(403, 410)},
    )
    def post(self, request, code):
        member, joined = commands.invite_accept(actor=request.user, code=code)
        return Response(room_item(request, member.room), status=201 if joined else 200)
