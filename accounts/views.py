"""The browser UI's account pages: sign up, log in, log out (session auth, CSRF on).

Thin edges like the API's: Django's auth views and forms for logging in and
out, ``accounts.services.user_register`` for a new account, and the same rate
limits as ``/api/auth/`` (per client address).
"""

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from chatsite.core import ratelimit
from chatsite.core.exceptions import ChatError, RateLimited

from . import services
from .api import client_ip

User = get_user_model()


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[RegexValidator(r"^[\w.@+-]+\Z", "Letters, digits and @ . + - _ only.")],
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    display_name = forms.CharField(
        max_length=150, required=False, label="Display name", help_text="How others see you."
    )
    email = forms.EmailField(max_length=254, required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not only digits, not a common password.",
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        elif password1:
            candidate = User(
                username=data.get("username", ""), email=data.get("email", ""), display_name=data.get("display_name", "")
            )
            try:
                validate_password(password1, user=candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


def _form_error(form: forms.Form, exc: ChatError) -> None:
    """Put a service's refusal on the fields it names (or on the whole form)."""
    if isinstance(exc, RateLimited):
        form.add_error(None, exc.detail)
        return
    placed = False
    for field in exc.fields or {}:
        if field in form.fields:
            form.add_error(field, exc.detail)
            placed = True
    if not placed:
        form.add_error(None, exc.detail)


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    status = 200
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                ratelimit.check(kind="auth.register", client_key=client_ip(request))
                user = services.user_register(
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                    email=form.cleaned_data["email"],
                    display_name=form.cleaned_data["display_name"],
                )
            except ChatError as exc:
                _form_error(form, exc)
                status = exc.status
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("home")
        else:
            status = 400
    return render(request, "registration/signup.html", {"form": form}, status=status)


class LoginView(auth_views.LoginView):
    """Django's login page, rate limited per client address like ``POST /api/auth/token/``."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        try:
            ratelimit.check(kind="auth.login", client_key=client_ip(request))
        except RateLimited as exc:
            form = self.get_form()
            form.is_valid()
            form.add_error(None, exc.detail)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response


class LogoutView(auth_views.LogoutView):
    """End the session. Django's logout sends ``user_logged_out``, on which chat
    closes the user's WebSockets (as for ``POST /api/auth/logout/``): a socket
    opened with this session must not outlive it."""
