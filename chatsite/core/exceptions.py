"""The errors services raise. Each has a stable ``code``; edges map the class to
an HTTP status (REST) or send ``{"type": "error", "code", "detail"}`` (WebSocket)."""


class ChatError(Exception):
    """Base of every expected refusal; a subclass names its default code and HTTP status."""

    code = "error"
    status = 400

    def __init_subclass__(cls, *, code: str, status: int, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.code, cls.status = code, status

    def __init__(self, detail: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(ChatError, code="not_found", status=404):
    """The object does not exist or the caller may not know that it does."""


class Forbidden(ChatError, code="permission_denied", status=403):
    """The caller is a member but their role or state does not allow this."""


class Invalid(ChatError, code="invalid", status=400):
    """The input breaks a rule; ``fields`` names the fields at fault."""


class Conflict(ChatError, code="conflict", status=409):
    """The request clashes with what exists (a name taken, an id reused)."""


class Gone(ChatError, code="gone", status=410):
    """The object existed but cannot be used any more (an expired or revoked link)."""


class RateLimited(ChatError, code="rate_limited", status=429):
    """Too many writes of one kind; ``retry_after`` seconds until the next is allowed."""

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class TooLarge(ChatError, code="too_large", status=413):
    """An upload or body over its size limit."""


class UnsupportedType(ChatError, code="unsupported_media_type", status=415):
    """An upload whose content is not on the allowlist."""


class Unavailable(ChatError, code="service_unavailable", status=503):
    """A backing service (Redis) does not answer; retrying later may work."""
