"""Messages: a room's history and sending, one message (edit, delete, history,
forward, reactions) and search. Writes answer with the bytes the command
rendered: the same payload the room's event carries."""

import uuid

from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import commands, selectors
from chat.events import render

from . import serializers as s
from .common import body_errors, errors, parse, rendered, sent


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
        return Response(render.message_payloads(messages))

    def create(self, request, room_pk=None):
        data = parse(s.MessageSendInputSerializer, request.data)
        return sent(
            commands.message_send(
                actor=request.user,
                room_id=room_pk,
                content=data.get("content", ""),
                message_type=data.get("message_type"),
                client_msg_id=data.get("client_msg_id"),
                reply_to_id=data.get("reply_to"),
                attachment_id=data.get("attachment_id"),
                extra_metadata=data.get("extra_metadata"),
                thread_id=data.get("thread"),
                also_in_room=data["also_in_room"],
            )
        )


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
        message, _member = selectors.message_for_member(message_id=pk, user=self.request.user)
        return message

    def retrieve(self, request, pk=None):
        return rendered(render.message_json(self.get_message(pk)))

    def partial_update(self, request, pk=None):
        data = parse(s.MessageEditInputSerializer, request.data)
        return rendered(commands.message_edit(actor=request.user, message_id=pk, content=data["content"]).json)

    def destroy(self, request, pk=None):
        return rendered(commands.message_delete(actor=request.user, message_id=pk).json)

    @extend_schema(
        summary="Restore a deleted message (room owners and admins; its sender for a short while after deleting it)",
        request=None, responses={200: s.MessageSerializer, **errors(403)},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        return rendered(commands.message_restore(actor=request.user, message_id=pk).json)

    @extend_schema(
        methods=["POST"], summary="Pin in its room (room owners and admins; either person of a direct room)",
        request=None, responses={201: s.PinStateSerializer, 200: s.PinStateSerializer, **errors(403)},
    )
    @extend_schema(methods=["DELETE"], summary="Unpin", request=None, responses={200: s.PinStateSerializer, **errors(403)})
    @action(detail=True, methods=["post", "delete"])
    def pin(self, request, pk=None):
        if request.method == "DELETE":
            commands.message_unpin(actor=request.user, message_id=pk)
            return Response({"message_id": str(uuid.UUID(pk)), "pinned": False})
        created = commands.message_pin(actor=request.user, message_id=pk)
        return Response({"message_id": str(uuid.UUID(pk)), "pinned": True}, status=201 if created else 200)

    @extend_schema(
        methods=["POST"], summary="Save to my saved messages", request=None,
        responses={201: s.SavedStateSerializer, 200: s.SavedStateSerializer, **errors()},
    )
    @extend_schema(methods=["DELETE"], summary="Take off my saved messages", request=None, responses={200: s.SavedStateSerializer, **errors()})
    @action(detail=True, methods=["post", "delete"])
    def save(self, request, pk=None):
        if request.method == "DELETE":
            commands.message_unsave(actor=request.user, message_id=pk)
            return Response({"message_id": str(uuid.UUID(pk)), "saved": False})
        created = commands.message_save(actor=request.user, message_id=pk)
        return Response({"message_id": str(uuid.UUID(pk)), "saved": True}, status=201 if created else 200)

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
        data = parse(s.ForwardInputSerializer, request.data)
        return sent(
            commands.message_forward(
                actor=request.user, message_id=pk, to_room_id=data["room"], client_msg_id=data.get("client_msg_id")
            )
        )

    @extend_schema(
        methods=["GET"], summary="Reaction counts, with whether I reacted", responses={200: s.ReactionCountSerializer(many=True), **errors()}
    )
    @extend_schema(
        methods=["POST"], summary="Add a reaction", request=s.ReactionInputSerializer,
        responses={201: s.ReactionCountSerializer(many=True), 200: s.ReactionCountSerializer(many=True), **body_errors()},
    )
    @action(detail=True, methods=["get", "post"])
    def reactions(self, request, pk=None):
        if request.method != "POST":
            return Response(selectors.reactions_for(message=self.get_message(pk), user=request.user))
        data = parse(s.ReactionInputSerializer, request.data)
        counts, created = commands.reaction_add(actor=request.user, message_id=pk, reaction=data["reaction"])
        return Response(counts, status=201 if created else 200)

    @extend_schema(
        summary="Remove my reaction", request=s.ReactionInputSerializer,
        responses={200: s.ReactionCountSerializer(many=True), **body_errors()},
    )
    @action(detail=True, methods=["post"], url_path="reactions/remove")
    def remove_reaction(self, request, pk=None):
        data = parse(s.ReactionInputSerializer, request.data)
        return Response(commands.reaction_remove(actor=request.user, message_id=pk, reaction=data["reaction"]))


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
        return Response(render.message_payloads(messages))


class SavedMessageListView(APIView):
    @extend_schema(
        summary="My saved messages across my rooms, newest saved first",
        parameters=[OpenApiParameter("before", OpenApiTypes.DATETIME), OpenApiParameter("limit", int)],
        responses={200: s.SavedMessageSerializer(many=True), **errors()},
    )
    def get(self, request):
        query = parse(s.SavedQuerySerializer, request.query_params)
        return Response(selectors.saved_messages(user=request.user, before=query.get("before"), limit=query["limit"]))


class SavedMessageIdsView(APIView):
    @extend_schema(
        summary="The ids of every message I saved (to mark them in any room)",
        responses={200: build_array_type(build_basic_type(OpenApiTypes.UUID)), **errors()},
    )
    def get(self, request):
        return Response(selectors.saved_message_ids(user=request.user))
