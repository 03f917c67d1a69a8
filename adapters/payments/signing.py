"""The sandbox payment provider's webhook signature: `Sandbox-Signature: t=...,v1=...`."""

from adapters.webhook_signing import InvalidSignature, sign, verify

SIGNATURE_HEADER = "Sandbox-Signature"

__all__ = ["SIGNATURE_HEADER", "InvalidSignature", "sign", "verify"]
