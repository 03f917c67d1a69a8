"""Errors answer `{"code": ..., "message": ...}` with a stable code, like a real provider's API."""

from sandbox.errors import SandboxError as ProviderError

__all__ = ["ProviderError"]
