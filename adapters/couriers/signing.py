"""Courier webhook signatures: `Courier-Signature: t=...,v1=...`, the engine's one scheme."""

from adapters.webhook_signing import InvalidSignature, sign, verify

SIGNATURE_HEADER = "Courier-Signature"

__all__ = ["SIGNATURE_HEADER", "InvalidSignature", "sign", "verify"]
