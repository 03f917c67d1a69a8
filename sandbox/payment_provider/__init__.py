"""A sandbox payment provider: a real HTTP service with its own SQLite state, asynchronous
settlement, signed webhooks with retries, and failure rules for tests and demos."""

from sandbox.payment_provider.app import create_app
from sandbox.payment_provider.config import ProviderConfig

__all__ = ["ProviderConfig", "create_app"]
