from django.urls import path

from . import views

urlpatterns = [
    path("attachments/<uuid:attachment_id>/", views.attachment_download, name="attachment-download"),
]
