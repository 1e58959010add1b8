"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is the
base64 HMAC-SHA256 of it under the secret, sent as ``webhook-signature: v1,<signature>``.
A secret written ``whsec_<base64>`` is the spec's form and is base64-decoded (padding
optional, as the reference libraries accept); any other string is used as its UTF-8
bytes, so a plain shared password works too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["SECRET_PREFIX", "secret_key", "sign"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret


def secret_key(secret: str) -> bytes:
    """The HMAC key for a configured secret.

    Raises:
        ValueError: a ``whsec_`` secret whose rest is not base64, or is empty.
    """
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    text = secret[len(SECRET_PREFIX) :].rstrip("=")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    if not key:
        raise ValueError("a whsec_ secret must not be empty after the prefix")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
