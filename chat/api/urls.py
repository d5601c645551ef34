from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts import api as accounts_api

from . import (
    attachments,
    exports,
    invites,
    members,
    messages,
    notifications,
    rooms,
    threads,
    users,
)

router = SimpleRouter()
router.register("rooms", rooms.RoomViewSet, basename="room")
router.register("messages", messages.MessageViewSet, basename="message")
router.register("search", messages.SearchViewSet, basename="search")
router.register("attachments", attachments.AttachmentViewSet, basename="attachment")
router.register("push-subscriptions", notifications.PushSubscriptionViewSet, basename="push-subscription")

room_router = SimpleRouter()
room_router.register("messages", messages.RoomMessageViewSet, basename="room-message")
room_router.register("members", members.RoomMemberViewSet, basename="room-member")

UUID = "<uuid:room_pk>"

urlpatterns = [
    path("auth/register/", accounts_api.RegisterView.as_view(), name="auth-register"),
    path("auth/token/", accounts_api.LoginView.as_view(), name="auth-token"),
    path("auth/token/refresh/", accounts_api.RefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", accounts_api.LogoutView.as_view(), name="auth-logout"),
    path("auth/me/", accounts_api.MeView.as_view(), name="auth-me"),
    path("auth/ws-ticket/", accounts_api.WsTicketView.as_view(), name="auth-ws-ticket"),
    path("users/", users.DirectoryView.as_view(), name="user-directory"),
    path("notification-settings/", notifications.NotificationSettingsView.as_view(), name="notification-settings"),
    path("mentions/", notifications.MentionListView.as_view(), name="mention-list"),
    path("threads/", threads.ThreadListView.as_view(), name="thread-list"),
    path("threads/unread/", threads.ThreadUnreadView.as_view(), name="thread-unread"),
    path("messages/<uuid:message_id>/thread/", threads.ThreadView.as_view(), name="thread-detail"),
    path("messages/<uuid:message_id>/thread/read/", threads.ThreadReadView.as_view(), name="thread-read"),
    path("messages/<uuid:message_id>/follow/", threads.ThreadFollowView.as_view(), name="thread-follow"),
    path("auth/me/delete/", users.AccountDeleteView.as_view(), name="auth-me-delete"),
    path("auth/me/avatar/", accounts_api.AvatarView.as_view(), name="auth-me-avatar"),
    path("auth/password/", accounts_api.PasswordChangeView.as_view(), name="auth-password"),
    path("auth/sessions/", accounts_api.SessionListView.as_view(), name="auth-sessions"),
    path("auth/sessions/logout-others/", accounts_api.SessionsLogoutOthersView.as_view(), name="auth-sessions-logout-others"),
    path("auth/sessions/<uuid:session_id>/", accounts_api.SessionView.as_view(), name="auth-session"),
    path("users/blocked/", accounts_api.BlockListView.as_view(), name="user-blocked"),
    path("users/<uuid:user_id>/avatar/<str:key>/<int:size>/", users.AvatarView.as_view(), name="user-avatar"),
    path("users/<uuid:user_id>/block/", accounts_api.BlockView.as_view(), name="user-block"),
    path("exports/", exports.ExportListView.as_view(), name="export-list"),
    path("exports/me/", exports.MyExportView.as_view(), name="export-me"),
    path("exports/<uuid:job_id>/", exports.ExportView.as_view(), name="export-detail"),
    path("exports/<uuid:job_id>/download/", exports.ExportDownloadView.as_view(), name="export-download"),
    path(f"rooms/{UUID}/export/", exports.RoomExportView.as_view(), name="room-export"),
    path("saved/", messages.SavedMessageListView.as_view(), name="saved-list"),
    path("saved/ids/", messages.SavedMessageIdsView.as_view(), name="saved-ids"),
    path(f"rooms/{UUID}/invites/", invites.RoomInviteListView.as_view(), name="room-invite-list"),
    path(f"rooms/{UUID}/invites/<uuid:invite_id>/", invites.RoomInviteView.as_view(), name="room-invite-detail"),
    path("invites/<str:code>/", invites.InviteView.as_view(), name="invite-detail"),
    path("invites/<str:code>/join/", invites.InviteJoinView.as_view(), name="invite-join"),
    path(f"rooms/{UUID}/", include(room_router.urls)),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
