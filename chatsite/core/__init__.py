"""What every app shares and nothing of chat or accounts: the base model, the
error types, the rate limiter and the API's JSON errors (import-linter keeps it so)."""
