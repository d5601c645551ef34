"""The chaos soak: a whole deployment broken on purpose while people chat (``python -m soak.run``)."""
