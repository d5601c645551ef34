from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("invitation/<str:uidb64>/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation"),
]
