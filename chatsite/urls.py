from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
    path("admin/", admin.site.urls),
    path("api/", include("chat.api.urls")),
]

handler404 = "chatsite.views.not_found"
handler500 = "chatsite.views.server_error"
