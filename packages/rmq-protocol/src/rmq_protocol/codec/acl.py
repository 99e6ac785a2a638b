"""ACL 1.0 request signing (spec §1.9).

Mirrors ``org.apache.rocketmq.acl.common.AclClientRPCHook`` and ``AclUtils``: the
client adds ``AccessKey`` (and ``SecurityToken`` when it has one) to the extFields,
sorts all extFields by key (Java ``String`` order: UTF-16 code units), concatenates
their VALUES except ``Signature``, appends the raw body, and stores
Base64(HMAC-SHA1(secretKey, that)) as ``Signature``. A server recomputes the same to
verify. C++ clients always sign, with empty credentials when none are configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

from rmq_protocol.codec.command import BytesLike, RemotingCommand

__all__ = [
    "ACCESS_KEY",
    "SECURITY_TOKEN",
    "SIGNATURE",
    "sign_command",
    "signature",
    "verify_signature",
]

ACCESS_KEY: Final = "AccessKey"
SECURITY_TOKEN: Final = "SecurityToken"  # noqa: S105 - the extFields key, not a secret
SIGNATURE: Final = "Signature"


def _java_order(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as Java compares String code units.
    return key.encode("utf-16-be", "surrogatepass")


def signature(ext_fields: Mapping[str, str], body: BytesLike, secret_key: str) -> str:
    """The ``Signature`` value for ``ext_fields`` (its own Signature entry ignored) and ``body``."""
    content = "".join(
        ext_fields[key] for key in sorted(ext_fields, key=_java_order) if key != SIGNATURE
    ).encode()
    digest = hmac.new(secret_key.encode(), content + bytes(body), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_command(
    cmd: RemotingCommand,
    access_key: str,
    secret_key: str,
    *,
    security_token: str | None = None,
) -> RemotingCommand:
    """``cmd`` with ``AccessKey`` (``SecurityToken``) and its ``Signature`` added."""
    ext = dict(cmd.ext_fields or {})
    ext[ACCESS_KEY] = access_key
    if security_token is not None:
        ext[SECURITY_TOKEN] = security_token
    ext[SIGNATURE] = signature(ext, cmd.body, secret_key)
    return cmd._replace(ext_fields=ext)


def verify_signature(cmd: RemotingCommand, secret_key: str) -> bool:
    """Whether ``cmd`` carries the Signature that ``secret_key`` gives (constant-time)."""
    ext = cmd.ext_fields or {}
    claimed = ext.get(SIGNATURE)
    if claimed is None:
        return False
    return hmac.compare_digest(claimed, signature(ext, cmd.body, secret_key))
