"""The accounts API's serializers, and the person's shape in the OpenAPI schema
(:class:`UserSerializer`, rendered by :func:`accounts.payloads.user_payload`)."""

from rest_framework import serializers

from .payloads import user_payload


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    display_name = serializers.CharField()

    def to_representation(self, instance):
        return user_payload(instance)


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    username = serializers.CharField(read_only=True)
    display_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    company = serializers.UUIDField(source="company_id", read_only=True, allow_null=True)
    is_support_agent = serializers.BooleanField(read_only=True)


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
