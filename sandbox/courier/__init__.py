"""A sandbox courier: a real HTTP service with its own SQLite state that tracks parcels, takes
scan events from tests and demos (or moves parcels on its own), and reports each event by a signed
webhook, redelivered with backoff until the receiver answers 2xx."""

from sandbox.courier.app import create_app
from sandbox.courier.config import CourierConfig

__all__ = ["CourierConfig", "create_app"]
