from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("chat.api.urls")),
]

handler404 = "chatsite.views.not_found"
handler500 = "chatsite.views.server_error"
