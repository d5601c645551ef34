from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from chat import web
from chat.notify import views as notify_views
from chatsite.core import metrics_http

urlpatterns = [
    path("", web.chat_page, name="home"),
    path("sw.js", web.service_worker, name="service-worker"),
    path("invite/<str:code>/", web.invite_page, name="invite"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", account_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", account_views.signup, name="signup"),
    path("admin/", admin.site.urls),
    path("imports/", include("imports.urls")),
    path("api/", include("chat.api.urls")),
    path("metrics", metrics_http.metrics_view, name="metrics"),
    path("notifications/unsubscribe/<str:token>/", notify_views.email_unsubscribe, name="email-unsubscribe"),
]

handler404 = "chatsite.views.not_found"
handler500 = "chatsite.views.server_error"
