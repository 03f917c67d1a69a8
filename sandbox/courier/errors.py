"""Errors answer `{"code": ..., "message": ...}` with a stable code, like a real courier's API."""

from sandbox.errors import SandboxError as CourierError
from sandbox.errors import install

__all__ = ["CourierError", "install"]
