"""The errors services raise. Each has a stable ``code``; edges map the class to
an HTTP status (REST) or send ``{"type": "error", "code", "detail"}`` (WebSocket)."""


class ChatError(Exception):
    code = "error"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(ChatError):
    """The object does not exist or the caller may not know that it does."""

    code = "not_found"
    status = 404


class Forbidden(ChatError):
    """The caller is a member but their role or state does not allow this."""

    code = "permission_denied"
    status = 403


class Invalid(ChatError):
    code = "invalid"
    status = 400


class Conflict(ChatError):
    code = "conflict"
    status = 409


class RateLimited(ChatError):
    code = "rate_limited"
    status = 429

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class TooLarge(ChatError):
    code = "too_large"
    status = 413


class UnsupportedType(ChatError):
    code = "unsupported_media_type"
    status = 415


class Unavailable(ChatError):
    """A backing service (Redis) does not answer; retrying later may work."""

    code = "service_unavailable"
    status = 503
