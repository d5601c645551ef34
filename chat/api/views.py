"""REST viewsets: parse input, rate-limit, call a service or selector, render output.

No view writes a model or talks to the channel layer itself.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from chat import inputs, payloads, presence, ratelimit, selectors, services
from chatsite.core.exceptions import NotFound
from chat.models import Attachment, ChatMember, ChatMessage
from chat.services.attachments import FILE_TYPES, IMAGE_TYPES, TEXT_TYPE

from . import serializers as s

User = get_user_model()

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid input"),
    401: OpenApiResponse(s.ErrorSerializer, description="Not authenticated"),
    403: OpenApiResponse(s.ErrorSerializer, description="Not allowed for your role"),
    404: OpenApiResponse(s.ErrorSerializer, description="Not found (or not visible to you)"),
    409: OpenApiResponse(s.ErrorSerializer, description="Conflict"),
    413: OpenApiResponse(s.ErrorSerializer, description="Request too large"),
    415: OpenApiResponse(s.ErrorSerializer, description="Unsupported media type"),
    429: OpenApiResponse(s.ErrorSerializer, description="Rate limited (see Retry-After)"),
    503: OpenApiResponse(s.ErrorSerializer, description="A backing service (Redis) is unavailable; retry later"),
}


# A download answers with the content type detected at upload: one of the allowlist.
DOWNLOAD_TYPES = sorted(IMAGE_TYPES | FILE_TYPES | {TEXT_TYPE})


def errors(*codes) -> dict:
    return {code: ERRORS[code] for code in (400, 401, 404, 429, *codes)}


def body_errors(*codes) -> dict:
    """errors() of an operation that reads a body: it can also be too large or of a type not parsed."""
    return errors(413, 415, *codes)


def parse(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def get_user(user_id):
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("User not found.", code="user_not_found")
    return user


def room_list_response(request, rooms):
    latest = selectors.last_messages(rooms)
    rendered = dict(zip((m.pk for m in latest.values()), payloads.message_payloads(list(latest.values())), strict=True))
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
        response = Response(room_list_response(request, rooms))
        if next_cursor is not None:
            params = request.query_params.copy()
            params["cursor"] = next_cursor
            response["X-Next-Cursor"] = next_cursor
            response["Link"] = f'<{request.path}?{params.urlencode()}>; rel="next"'
        return response

    def retrieve(self, request, pk=None):
        return Response(room_item(request, self.get_room(pk)))

    def create(self, request):
        ratelimit.check(kind="room.create", user=request.user)
        data = parse(s.RoomCreateInputSerializer, request.data)
        members = list(User.objects.filter(pk__in=data["member_ids"], is_active=True))
        if len(members) != len(set(data["member_ids"])):
            raise NotFound("One of member_ids is not a user.", code="user_not_found")
        room = services.room_create_group(
            creator=request.user,
            name=data["name"],
            description=data["description"],
            members=members,
            is_public=data["is_public"],
        )
        return Response(room_item(request, room), status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        ratelimit.check(kind="room.update", user=request.user)
        room = self.get_room(pk)
        data = parse(s.RoomUpdateInputSerializer, request.data)
        changes = {key: data[key] for key in ("name", "description", "is_public", "extra_metadata") if key in data}
        if "avatar_id" in data:
            avatar = None
            if data["avatar_id"] is not None:
                avatar = Attachment.objects.filter(pk=data["avatar_id"], uploaded_by=request.user).first()
                if avatar is None:
                    raise NotFound("Attachment not found.", code="attachment_not_found")
            changes["avatar"] = avatar
        room = services.room_update(room=room, actor=request.user, **changes)
        return Response(room_item(request, room))

    @extend_schema(
        summary="Get or create the direct room with a user (200 existing, 201 new)",
        request=s.UserIdInputSerializer,
        responses={200: s.RoomListItemSerializer, 201: s.RoomListItemSerializer, **body_errors(403)},
    )
    @action(detail=False, methods=["post"])
    def direct(self, request):
        ratelimit.check(kind="room.create", user=request.user)
        data = parse(s.UserIdInputSerializer, request.data)
        other = User.objects.filter(pk=data["user_id"]).first()
        room, created = services.room_get_or_create_direct(user=request.user, other=other)
        return Response(room_item(request, room), status=201 if created else 200)

    @extend_schema(
        summary="Open (or get) my support room (200 existing, 201 new)",
        request=None,
        responses={200: s.RoomListItemSerializer, 201: s.RoomListItemSerializer, **errors()},
    )
    @action(detail=False, methods=["post"])
    def support(self, request):
        ratelimit.check(kind="room.create", user=request.user)
        room, created = services.room_open_support(user=request.user)
        return Response(room_item(request, room), status=201 if created else 200)

    @extend_schema(summary="Public rooms of my company (to join)", responses={200: s.RoomSerializer(many=True), **errors()})
    @action(detail=False, methods=["get"])
    def public(self, request):
        return Response(s.RoomSerializer(selectors.public_rooms_for_user(user=request.user), many=True).data)

    @extend_schema(summary="Join a public room of my company", request=None, responses={200: s.RoomListItemSerializer, **errors(403)})
    @action(detail=True, methods=["post"])
    def join(self, request, pk=None):
        ratelimit.check(kind="member", user=request.user)
        room = selectors.public_rooms_for_user(user=request.user).filter(pk=pk).first()
        if room is None:
            raise NotFound("Room not found.", code="room_not_found")
        services.room_join(room=room, user=request.user)
        return Response(room_item(request, room))

    @extend_schema(summary="Leave a room", request=None, responses={204: None, **errors(403)})
    @action(detail=True, methods=["post"])
    def leave(self, request, pk=None):
        ratelimit.check(kind="member", user=request.user)
        services.room_leave(room=self.get_room(pk), user=request.user)
        return Response(status=204)

    @extend_schema(
        summary="Deactivate a room (owner)", request=s.ReasonInputSerializer, responses={200: s.RoomSerializer, **body_errors(403)}
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        ratelimit.check(kind="room.update", user=request.user)
        data = parse(s.ReasonInputSerializer, request.data)
        room = services.room_deactivate(room=self.get_room(pk), actor=request.user, reason=data["reason"])
        return Response(s.RoomSerializer(room).data)

    @extend_schema(
        summary="Mark read up to a seq", request=s.ReadInputSerializer, responses={200: s.ReadResultSerializer, **body_errors()}
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        room = self.get_room(pk)
        data = parse(s.ReadInputSerializer, request.data)
        return Response(inputs.room_mark_read(user=request.user, room_id=room.pk, seq=data["seq"]))

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


@extend_schema_view(
    list=extend_schema(
        summary="History of a room, oldest first within the page",
        parameters=[OpenApiParameter("before", int), OpenApiParameter("after", int), OpenApiParameter("limit", int)],
        responses={200: s.MessageSerializer(many=True), **errors()},
    ),
    create=extend_schema(
        summary="Send a message (a retry with the same client_msg_id answers 200 with the original)",
        request=s.MessageSendInputSerializer,
        responses={201: s.MessageSerializer, 200: s.MessageSerializer, **body_errors(403, 409)},
    ),
)
class RoomMessageViewSet(viewsets.ViewSet):
    def list(self, request, room_pk=None):
        room = selectors.room_get_for_member(room_id=room_pk, user=request.user)
        query = parse(s.HistoryQuerySerializer, request.query_params)
        messages = selectors.message_list(
            room=room, before=query.get("before"), after=query.get("after"), limit=query["limit"]
        )
        return Response(payloads.message_payloads(messages))

    def create(self, request, room_pk=None):
        data = parse(s.MessageSendInputSerializer, request.data)
        message, created = inputs.message_send(user=request.user, room_id=room_pk, data=data)
        return Response(message, status=201 if created else 200)


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

    def get_room(self, room_pk):
        return selectors.room_get_for_member(room_id=room_pk, user=self.request.user)

    def get_member(self, room, user_id):
        member = ChatMember.objects.select_related("user").filter(room=room, user_id=user_id).first()
        if member is None:
            raise NotFound("Member not found.", code="member_not_found")
        return member

    def list(self, request, room_pk=None):
        room = self.get_room(room_pk)
        query = parse(s.MemberListQuerySerializer, request.query_params)
        include_banned = query.get("include") == "banned"
        if include_banned:
            services.require_moderator(room, request.user)
        members = selectors.member_list(room=room, include_banned=include_banned)
        return Response([payloads.member_payload(m) for m in members])

    def create(self, request, room_pk=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        data = parse(s.MemberAddInputSerializer, request.data)
        member = services.room_member_add(room=room, actor=request.user, user=get_user(data["user_id"]), role=data["role"])
        return Response(payloads.member_payload(member), status=201)

    def partial_update(self, request, room_pk=None, user_id=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        data = parse(s.RoleInputSerializer, request.data)
        member = services.room_member_change_role(
            room=room, actor=request.user, member=self.get_member(room, user_id), role=data["role"]
        )
        return Response(payloads.member_payload(member))

    def destroy(self, request, room_pk=None, user_id=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        services.room_member_remove(room=room, actor=request.user, member=self.get_member(room, user_id))
        return Response(status=204)

    @extend_schema(summary="Mute a member (until a time, or for minutes)", request=s.MuteInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def mute(self, request, room_pk=None, user_id=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        data = parse(s.MuteInputSerializer, request.data)
        until = data.get("until") or timezone.now() + timedelta(minutes=data["minutes"])
        member = services.room_member_mute(
            room=room, actor=request.user, member=self.get_member(room, user_id), until=until, reason=data["reason"]
        )
        return Response(payloads.member_payload(member))

    @extend_schema(summary="Unmute a member", request=s.ReasonInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def unmute(self, request, room_pk=None, user_id=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        data = parse(s.ReasonInputSerializer, request.data)
        member = services.room_member_unmute(
            room=room, actor=request.user, member=self.get_member(room, user_id), reason=data["reason"]
        )
        return Response(payloads.member_payload(member))

    @extend_schema(summary="Ban a member", request=s.ReasonInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def ban(self, request, room_pk=None, user_id=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        data = parse(s.ReasonInputSerializer, request.data)
        member = services.room_member_ban(
            room=room, actor=request.user, member=self.get_member(room, user_id), reason=data["reason"]
        )
        return Response(payloads.member_payload(member))

    @extend_schema(summary="Lift a ban", request=s.ReasonInputSerializer, responses={200: s.MemberSerializer, **body_errors(403)})
    @action(detail=True, methods=["post"])
    def unban(self, request, room_pk=None, user_id=None):
        ratelimit.check(kind="member", user=request.user)
        room = self.get_room(room_pk)
        data = parse(s.ReasonInputSerializer, request.data)
        member = services.room_member_unban(
            room=room, actor=request.user, member=self.get_member(room, user_id), reason=data["reason"]
        )
        return Response(payloads.member_payload(member))


@extend_schema_view(
    retrieve=extend_schema(summary="One message", responses={200: s.MessageSerializer, **errors()}),
    partial_update=extend_schema(
        summary="Edit my message", request=s.MessageEditInputSerializer, responses={200: s.MessageSerializer, **body_errors(403)}
    ),
    destroy=extend_schema(summary="Delete a message (soft)", request=None, responses={200: s.MessageSerializer, **errors(403)}),
)
class MessageViewSet(viewsets.ViewSet):
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_message(self, pk):
        return services.message_get_for_member(message_id=pk, user=self.request.user)

    def retrieve(self, request, pk=None):
        return Response(payloads.message_payload(self.get_message(pk)))

    def partial_update(self, request, pk=None):
        message = self.get_message(pk)
        data = parse(s.MessageEditInputSerializer, request.data)
        return Response(inputs.message_edit(user=request.user, message_id=message.pk, content=data["content"]))

    def destroy(self, request, pk=None):
        message = self.get_message(pk)
        return Response(inputs.message_delete(user=request.user, message_id=message.pk))

    @extend_schema(summary="Edit history (earlier versions)", responses={200: s.EditHistorySerializer(many=True), **errors()})
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        message = self.get_message(pk)
        return Response(s.EditHistorySerializer(selectors.message_edit_history(message=message), many=True).data)

    @extend_schema(
        summary="Forward into a room where I am a member",
        request=s.ForwardInputSerializer,
        responses={201: s.MessageSerializer, 200: s.MessageSerializer, **body_errors(403, 409)},
    )
    @action(detail=True, methods=["post"])
    def forward(self, request, pk=None):
        message = self.get_message(pk)
        data = parse(s.ForwardInputSerializer, request.data)
        to_room = selectors.room_get_for_member(room_id=data["room"], user=request.user)
        ratelimit.check(kind="message.send", user=request.user, room=to_room)
        forwarded, created = services.message_forward(
            message=message, to_room=to_room, actor=request.user, client_msg_id=data.get("client_msg_id")
        )
        return Response(payloads.message_payload(forwarded), status=201 if created else 200)

    @extend_schema(
        methods=["GET"], summary="Reaction counts, with whether I reacted", responses={200: s.ReactionCountSerializer(many=True), **errors()}
    )
    @extend_schema(
        methods=["POST"], summary="Add a reaction", request=s.ReactionInputSerializer,
        responses={201: s.ReactionCountSerializer(many=True), 200: s.ReactionCountSerializer(many=True), **body_errors()},
    )
    @action(detail=True, methods=["get", "post"])
    def reactions(self, request, pk=None):
        message = self.get_message(pk)
        if request.method != "POST":
            return Response(inputs.reaction_counts(user=request.user, message=message))
        data = parse(s.ReactionInputSerializer, request.data)
        counts, created = inputs.reaction_add(user=request.user, message_id=message.pk, reaction=data["reaction"])
        return Response(counts, status=201 if created else 200)

    @extend_schema(
        summary="Remove my reaction", request=s.ReactionInputSerializer,
        responses={200: s.ReactionCountSerializer(many=True), **body_errors()},
    )
    @action(detail=True, methods=["post"], url_path="reactions/remove")
    def remove_reaction(self, request, pk=None):
        message = self.get_message(pk)
        data = parse(s.ReactionInputSerializer, request.data)
        return Response(inputs.reaction_remove(user=request.user, message_id=message.pk, reaction=data["reaction"]))


class SearchViewSet(viewsets.ViewSet):
    @extend_schema(
        summary="Search my messages by words (all words must match)",
        parameters=[OpenApiParameter("q", str, required=True), OpenApiParameter("room", OpenApiTypes.UUID), OpenApiParameter("limit", int)],
        responses={200: s.MessageSerializer(many=True), **errors()},
    )
    def list(self, request):
        query = parse(s.SearchQuerySerializer, request.query_params)
        room = None
        if query.get("room"):
            room = selectors.room_get_for_member(room_id=query["room"], user=request.user)
        messages = selectors.message_search(user=request.user, query=query["q"], room=room, limit=query["limit"])
        return Response(payloads.message_payloads(messages))


class AttachmentViewSet(viewsets.ViewSet):
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    @extend_schema(
        summary="Upload a file (multipart, field 'file')",
        request={"multipart/form-data": s.UploadInputSerializer},
        responses={201: s.AttachmentSerializer, **body_errors(403)},
    )
    def create(self, request):
        ratelimit.check(kind="upload", user=request.user)
        data = parse(s.UploadInputSerializer, request.data)
        room = None
        if data.get("room"):
            room = selectors.room_get_for_member(room_id=data["room"], user=request.user)
        attachment = services.attachment_create(uploader=request.user, upload=data["file"], room=room)
        return Response(payloads.attachment_payload(attachment), status=201)

    @extend_schema(
        summary="Download (members of a room it was posted in), served with the type detected at upload",
        responses={**{(200, content_type): OpenApiTypes.BINARY for content_type in DOWNLOAD_TYPES}, **errors()},
    )
    def retrieve(self, request, pk=None):
        attachment = selectors.attachment_for_user(attachment_id=pk, user=request.user)
        response = FileResponse(
            attachment.file.open("rb"),
            as_attachment=not attachment.is_image,
            filename=attachment.original_name,
            content_type=attachment.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=3600"
        return response
