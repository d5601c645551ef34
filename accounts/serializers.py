"""The accounts API's serializers, and the person's shape in the OpenAPI schema
(:class:`UserSerializer`, rendered by :func:`accounts.payloads.user_payload`)."""

from rest_framework import serializers

from .payloads import avatar_urls, user_payload


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    avatar = serializers.DictField(
        child=serializers.CharField(), allow_null=True,
        help_text='URLs of square WebP renderings by size in pixels ({"32": url, "64": url, "128": url}); null: show initials.',
    )

    def to_representation(self, instance):
        return user_payload(instance)


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    username = serializers.CharField(read_only=True)
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    company = serializers.UUIDField(source="company_id", read_only=True, allow_null=True)
    is_support_agent = serializers.BooleanField(read_only=True)
    avatar = serializers.SerializerMethodField()
    time_zone = serializers.CharField(
        max_length=64, required=False, allow_blank=True,
        help_text="An IANA zone (Europe/Paris) for displayed times; empty: the browser's own.",
    )

    def get_avatar(self, user) -> dict | None:
        return avatar_urls(user)


class AvatarInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="PNG, JPEG, GIF or WebP; cropped to a centred square.")


class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField(help_text="browser (a signed-in page) or api (a client with JWTs).")
    device = serializers.CharField(help_text="Browser and system, from the User-Agent.")
    user_agent = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The session making this request.")


class SessionsEndedSerializer(serializers.Serializer):
    ended = serializers.IntegerField(help_text="How many sessions were ended.")


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True, default="")
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterResponseSerializer(serializers.Serializer):
    user = MeSerializer()
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


class BlockedUserSerializer(serializers.Serializer):
    """A UserBlock as its blocker sees it."""

    user = UserSerializer(source="blocked")
    blocked_at = serializers.DateTimeField(source="created_at")


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField()
    expires_in = serializers.IntegerField()
