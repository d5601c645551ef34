"""Threads over REST: a thread (root and replies, paged by seq), follow and
unfollow, the read position in a thread, and the Threads view."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import commands, selectors
from chat.events import render

from . import serializers as s
from .common import body_errors, errors, paged, parse


class ThreadView(APIView):
    @extend_schema(
        summary="A thread: its root and a page of replies, oldest first",
        description="Paged by seq like room history: `before` pages back from the newest, `after` forward. "
        "Also my state of the thread: following, read position, unread replies.",
        parameters=[OpenApiParameter("before", int), OpenApiParameter("after", int), OpenApiParameter("limit", int)],
        responses={200: s.ThreadSerializer, **errors()},
    )
    def get(self, request, message_id):
        query = parse(s.HistoryQuerySerializer, request.query_params)
        root, _member = selectors.thread_root(message_id=message_id, user=request.user)
        replies = selectors.thread_replies(root=root, before=query.get("before"), after=query.get("after"), limit=query["limit"])
        root_payload, *reply_payloads = render.message_payloads([root, *replies])
        return Response(
            {"root": root_payload, "replies": reply_payloads, **selectors.thread_state(root=root, user=request.user)}
        )


class ThreadFollowView(APIView):
    @extend_schema(summary="Follow a thread", request=None, responses={200: s.ThreadStateSerializer, **errors()})
    def post(self, request, message_id):
        return Response(commands.thread_follow(actor=request.user, message_id=message_id, following=True))

    @extend_schema(summary="Stop following a thread", request=None, responses={200: s.ThreadStateSerializer, **errors()})
    def delete(self, request, message_id):
        return Response(commands.thread_follow(actor=request.user, message_id=message_id, following=False))


class ThreadReadView(APIView):
    @extend_schema(
        summary="Mark a thread read up to a seq",
        description="Moves my read position in this thread (not the room's); every socket of mine hears `thread.read`.",
        request=s.ReadInputSerializer,
        responses={200: s.ThreadReadSerializer, **body_errors()},
    )
    def post(self, request, message_id):
        data = parse(s.ReadInputSerializer, request.data)
        return Response(commands.thread_mark_read(actor=request.user, message_id=message_id, seq=data["seq"]))


class ThreadListView(APIView):
    @extend_schema(
        summary="Threads I follow: those with unread replies first, then the latest reply",
        description="When there are more, the response has an `X-Next-Cursor` header (and a `Link` header with "
        "rel=next): pass it as `cursor` for the next page.",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={200: s.ThreadListItemSerializer(many=True), **errors()},
    )
    def get(self, request):
        query = parse(s.MentionListQuerySerializer, request.query_params)
        follows, next_cursor = selectors.threads_page(user=request.user, limit=query["limit"], cursor=query.get("cursor"))
        roots = render.message_payloads([follow.root for follow in follows])
        body = [
            {
                "root": root,
                "room": {"id": str(follow.root.room_id), "name": follow.root.room.name, "room_type": follow.root.room.room_type},
                "following": follow.following,
                "last_read_seq": follow.last_read_seq,
                "unread_count": follow.unread_count,
                "last_reply_at": root["thread_summary"]["last_reply_at"] if root["thread_summary"] else None,
            }
            for follow, root in zip(follows, roots, strict=True)
        ]
        return paged(request, Response(body), next_cursor)


class ThreadUnreadView(APIView):
    @extend_schema(summary="How many followed threads have unread replies, and how many replies", responses={200: s.ThreadUnreadSerializer, **errors()})
    def get(self, request):
        return Response(selectors.threads_unread_total(user=request.user))
