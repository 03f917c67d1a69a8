"""Errors answer `{"code": ..., "message": ...}` with a stable code, like a real courier's API."""

from sandbox.errors import SandboxError as CourierError

__all__ = ["CourierError"]
