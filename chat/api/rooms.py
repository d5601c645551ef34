"""Rooms: my rooms (paged), group/direct/support creation, settings, join and
leave, read position, presence and the event log over HTTP."""

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from chat import commands, presence, selectors
from chat.events import render

from . import serializers as s
from .common import body_errors, errors, paged, parse


def room_list_response(request, rooms):
    latest = selectors.last_messages(rooms)
    rendered = dict(zip((m.pk for m in latest.values()), render.message_payloads(list(latest.values())), strict=True))
    context = {"last_messages": latest, "rendered_last": rendered, "request": request}
    return s.RoomListItemSerializer(rooms, many=True, context=context).data


def room_item(request, room):
    (item,) = room_list_response(request, list(selectors.room_list_for_user(user=request.user).filter(pk=room.pk)))
    return item


@extend_schema_view(
    list=extend_schema(
        summary="My rooms, newest activity first, a page at a time",
        description="At most `limit` rooms (default 50, at most 500). When there are more, the response has an "
        "`X-Next-Cursor` header (and a `Link` header with rel=next): pass it as `cursor` for the next page.",
        parameters=[
            OpenApiParameter("type", str, enum=["direct", "group", "company", "support"]),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
            OpenApiParameter(
                "X-Next-Cursor", str, location=OpenApiParameter.HEADER, response=[200],
                description="The cursor of the next page, when there is one.",
            ),
        ],
        responses={
            200: OpenApiResponse(
                s.RoomListItemSerializer(many=True),
                description="A page of rooms",
            ),
            **errors(),
        },
    ),
    retrieve=extend_schema(summary="One of my rooms", responses={200: s.RoomListItemSerializer, **errors()}),
    create=extend_schema(
        summary="Create a group room",
        request=s.RoomCreateInputSerializer,
        responses={201: s.RoomListItemSerializer, **body_errors(403)},
    ),
    partial_update=extend_schema(
        summary="Update room settings (owners and admins)",
        request=s.RoomUpdateInputSerializer,
        responses={200: s.RoomListItemSerializer, **body_errors(403)},
    ),
)
class RoomViewSet(viewsets.ViewSet):
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_room(self, pk):
        return selectors.room_get_for_member(room_id=pk, user=self.request.user)

    def list(self, request):
        query = parse(s.RoomListQuerySerializer, request.query_params)
        rooms, next_cursor = selectors.room_page(
            selectors.room_list_for_user(user=request.user, room_type=query.get("type")),
            limit=query["limit"],
            cursor=query.get("cursor"),
        )
        return paged(request, Response(room_list_response(request, rooms)), next_cursor)

    def retrieve(self, request, pk=None):
        return Response(room_item(request, self.get_room(pk)))

    def create(self, request):
        data = parse(s.RoomCreateInputSerializer, request.data)
        room = commands.room_create_group(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            member_ids=data["member_ids"],
            is_public=data["is_public"],
        )
        return Response(room_item(request, room), status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        data = parse(s.RoomUpdateInputSerializer, request.data)
        changes = {key: data[key] for key in ("name", "description", "is_public", "extra_metadata", "avatar_id") if key in data}
        room = commands.room_update(actor=request.user, room_id=pk, **changes)
        return Response(room_item(request, room))

    @extend_schema(
        summary="Get or create the direct room with a user (200 existing, 201 new)",
        request=s.UserIdInputSerializer,
        responses={200: s.RoomListItemSerializer, 201: s.RoomListItemSerializer, **body_errors(403)},
    )
    @action(detail=False, methods=["post"])
    def direct(self, request):
        data = parse(s.UserIdInputSerializer, request.data)
        room, created = commands.room_get_or_create_direct(actor=request.user, user_id=data["user_id"])
        return Response(room_item(request, room), status=201 if created else 200)

    @extend_schema(
        summary="Open (or get) my support room (200 existing, 201 new)",
        request=None,
        responses={200: s.RoomListItemSerializer, 201: s.RoomListItemSerializer, **errors()},
    )
    @action(detail=False, methods=["post"])
    def support(self, request):
        room, created = commands.room_open_support(actor=request.user)
        return Response(room_item(request, room), status=201 if created else 200)

    @extend_schema(
        summary="The room directory: public rooms of my company to join, with member counts (q: words of the name or description)",
        parameters=[OpenApiParameter("q", str)],
        responses={200: s.DirectoryRoomSerializer(many=True), **errors()},
    )
    @action(detail=False, methods=["get"])
    def public(self, request):
        query = parse(s.DirectoryQuerySerializer, request.query_params)
        rooms = selectors.rooms_to_join(user=request.user, query=query["q"])
        return Response(s.DirectoryRoomSerializer(rooms, many=True).data)

    @extend_schema(summary="Join a public room of my company", request=None, responses={200: s.RoomListItemSerializer, **errors(403)})
    @action(detail=True, methods=["post"])
    def join(self, request, pk=None):
        member = commands.room_join(actor=request.user, room_id=pk)
        return Response(room_item(request, member.room))

    @extend_schema(summary="Leave a room", request=None, responses={204: None, **errors(403)})
    @action(detail=True, methods=["post"])
    def leave(self, request, pk=None):
        commands.room_leave(actor=request.user, room_id=pk)
        return Response(status=204)

    @extend_schema(
        summary="Deactivate a room (owner)", request=s.ReasonInputSerializer, responses={200: s.RoomSerializer, **body_errors(403)}
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        data = parse(s.ReasonInputSerializer, request.data)
        room = commands.room_deactivate(actor=request.user, room_id=pk, reason=data["reason"])
        return Response(s.RoomSerializer(room).data)

    @extend_schema(
        summary="Mark read up to a seq", request=s.ReadInputSerializer, responses={200: s.AttentionSerializer, **body_errors()}
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        data = parse(s.ReadInputSerializer, request.data)
        return Response(commands.room_mark_read(actor=request.user, room_id=pk, seq=data["seq"]))

    @extend_schema(
        summary="My notification level and mute for this room",
        description="`level`: all, mentions, nothing, or default (direct rooms: all; others: mentions). "
        "A muted room shows no unread badge (mentions still count) and notifies nobody. "
        "Every socket of mine hears the result as an `unread` frame.",
        request=s.RoomNotificationsInputSerializer,
        responses={200: s.AttentionSerializer, **body_errors()},
    )
    @action(detail=True, methods=["patch"])
    def notifications(self, request, pk=None):
        data = parse(s.RoomNotificationsInputSerializer, request.data)
        return Response(
            commands.room_notifications_update(actor=request.user, room_id=pk, level=data.get("level"), muted=data.get("muted"))
        )

    @extend_schema(summary="The room's pinned messages, newest pin first", responses={200: s.PinSerializer(many=True), **errors()})
    @action(detail=True, methods=["get"])
    def pins(self, request, pk=None):
        return Response(selectors.room_pins(room=self.get_room(pk)))

    @extend_schema(
        summary="Who of the room's members is online, away or offline",
        responses={200: s.PresenceSerializer(many=True), **errors(503)},
    )
    @action(detail=True, methods=["get"])
    def presence(self, request, pk=None):
        room = self.get_room(pk)
        user_ids = [str(m.user_id) for m in selectors.member_list(room=room)]
        statuses = presence.statuses_blocking(user_ids)
        return Response([{"user_id": user_id, "status": statuses[user_id]} for user_id in user_ids])

    @extend_schema(
        summary="Room events since a seq (the WebSocket's events, for resuming over HTTP)",
        parameters=[
            OpenApiParameter("after", int, required=True),
            OpenApiParameter("limit", int),
        ],
        responses={
            200: s.EventsPageSerializer,
            410: OpenApiResponse(s.ResyncRequiredSerializer, description="resync_required: refetch the room"),
            **errors(),
        },
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        room = self.get_room(pk)
        query = parse(s.EventsQuerySerializer, request.query_params)
        try:
            frames, has_more = selectors.events_since(room=room, after=query["after"], limit=query["limit"])
        except selectors.ResyncRequired:
            return Response(
                {
                    "code": "resync_required",
                    "detail": "Events after this seq are no longer kept; refetch the room over REST.",
                    "room": str(room.pk),
                    "seq": room.seq,
                    "events_purged_through": room.events_purged_through,
                },
                status=410,
            )
        return Response({"events": frames, "has_more": has_more, "seq": room.seq})
