"""Announcing changes: the wire vocabulary (wire), the room log (log), payload
rendering (render) and the channel layer (broadcast, its only user)."""
