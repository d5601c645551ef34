"""Notification settings, the Mentions view and Web Push subscriptions."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import commands, selectors
from chat.events import render
from chat.notify import push
from chatsite.core.exceptions import Invalid

from . import serializers as s
from .common import body_errors, errors, paged, parse


def _preferences(prefs) -> dict:
    return {
        "desktop_enabled": prefs.desktop_enabled,
        "sound_enabled": prefs.sound_enabled,
        "email_enabled": prefs.email_enabled,
        "email_delay_minutes": prefs.email_delay_minutes,
        "push_public_key": getattr(settings, "CHAT_VAPID_PUBLIC_KEY", ""),
    }


class NotificationSettingsView(APIView):
    @extend_schema(summary="My notification settings", responses={200: s.NotificationPreferencesSerializer, **errors()})
    def get(self, request):
        return Response(_preferences(selectors.notification_preferences(user=request.user)))

    @extend_schema(
        summary="Change my notification settings",
        request=s.NotificationPreferencesInputSerializer,
        responses={200: s.NotificationPreferencesSerializer, **body_errors()},
    )
    def patch(self, request):
        data = parse(s.NotificationPreferencesInputSerializer, request.data)
        unknown = sorted(set(request.data) - set(data) - set(s.NotificationPreferencesInputSerializer().fields))
        if unknown:
            raise Invalid(
                f"Unknown setting: {', '.join(unknown)}.", code="unknown_setting", fields={name: ["Unknown setting."] for name in unknown}
            )
        return Response(_preferences(commands.notification_preferences_update(actor=request.user, **data)))


class MentionListView(APIView):
    @extend_schema(
        summary="Messages that mention me, newest first, a page at a time",
        description="Across the rooms I am in; deleted messages are left out. When there are more, the response "
        "has an `X-Next-Cursor` header (and a `Link` header with rel=next): pass it as `cursor` for the next page.",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses={200: s.MentionSerializer(many=True), **errors()},
    )
    def get(self, request):
        query = parse(s.MentionListQuerySerializer, request.query_params)
        rows, next_cursor = selectors.mentions_for_user(user=request.user, limit=query["limit"], cursor=query.get("cursor"))
        messages = render.message_payloads([row.message for row in rows])
        body = [
            {
                "id": str(row.pk),
                "kind": row.kind,
                "created_at": row.sent_at,
                "room": {"id": str(row.room_id), "name": row.room.name, "room_type": row.room.room_type},
                "message": message,
            }
            for row, message in zip(rows, messages, strict=True)
        ]
        return paged(request, Response(body), next_cursor)


def _subscription(subscription) -> dict:
    return {
        "id": str(subscription.pk),
        "endpoint": subscription.endpoint,
        "user_agent": subscription.user_agent,
        "created_at": subscription.created_at,
        "last_used_at": subscription.last_used_at,
    }


@extend_schema_view(
    list=extend_schema(summary="My browsers' Web Push subscriptions", responses={200: s.PushSubscriptionSerializer(many=True), **errors()}),
    create=extend_schema(
        summary="Subscribe this browser to Web Push",
        description="The body is the browser's `PushSubscription.toJSON()`. The endpoint must be an https URL of a "
        "known push service; 201 when new, 200 when this endpoint was already subscribed (it is now mine).",
        request=s.PushSubscriptionInputSerializer,
        responses={201: s.PushSubscriptionSerializer, 200: s.PushSubscriptionSerializer, **body_errors()},
    ),
    destroy=extend_schema(summary="Unsubscribe a browser", responses={204: None, **errors()}),
)
class PushSubscriptionViewSet(viewsets.ViewSet):
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def list(self, request):
        return Response([_subscription(item) for item in selectors.push_subscriptions(user=request.user)])

    def create(self, request):
        # One check for the whole shape, naming the field at fault (keys.p256dh, not keys).
        subscription = push.validate_subscription(request.data)
        item, created = commands.push_subscription_add(
            actor=request.user, subscription=subscription, user_agent=request.headers.get("User-Agent", "")
        )
        return Response(_subscription(item), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def destroy(self, request, pk=None):
        commands.push_subscription_remove(actor=request.user, subscription_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
