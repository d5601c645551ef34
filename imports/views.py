"""The page an imported person's invitation links to: set a password, and the
account is active (and in its company's rooms)."""

from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from chat import commands


class InvitationAcceptView(auth_views.PasswordResetConfirmView):
    template_name = "imports/invitation_accept.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.user
        if not user.is_active:
            commands.user_set_active(user=user, is_active=True)
            commands.user_set_company(user=user, company=user.company)  # joins the company's rooms
        return response
