"""Secrets at rest and signatures.

- ``Encryptor``: AES-256-GCM for stored secrets (OAuth tokens, passwords of CalDAV accounts ...).
  Output ``v1:<key id>:<base64url(nonce || ciphertext+tag)>``; the key id is authenticated as associated
  data. Several keys may be configured: the first encrypts, every one decrypts (key rotation).
- Password hashing with Argon2id; API key hashing with SHA-256; HMAC signing and constant-time checks.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1"


class DecryptionError(ValueError):
    """The ciphertext was tampered with, is malformed, or was made with an unknown key."""


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """Parse ``ENCRYPTION_KEY``: comma-separated ``id:base64key`` or bare base64 (id derived from the key)."""
    keys: list[tuple[str, bytes]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key_id, _, encoded = part.rpartition(":") if ":" in part else ("", "", part)
        try:
            key = _b64decode(encoded)
        except (ValueError, TypeError) as exc:
            raise ValueError("ENCRYPTION_KEY: a key is not valid base64") from exc
        if len(key) != 32:
            raise ValueError("ENCRYPTION_KEY: each key must be 32 bytes (base64 of 32 random bytes)")
        if not key_id:
            key_id = hashlib.sha256(key).hexdigest()[:8]
        if any(c in key_id for c in ": ,"):
            raise ValueError("ENCRYPTION_KEY: a key id may not contain ':', ',' or spaces")
        keys.append((key_id, key))
    if not keys:
        raise ValueError("ENCRYPTION_KEY: no key given")
    return keys


class Encryptor:
    def __init__(self, key_spec: str) -> None:
        keys = parse_keys(key_spec)
        self._current_id, current = keys[0]
        self._current = AESGCM(current)
        self._by_id = {kid: AESGCM(k) for kid, k in keys}

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        aad = f"{_PREFIX}:{self._current_id}".encode()
        sealed = self._current.encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{_PREFIX}:{self._current_id}:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, token: str) -> str:
        try:
            version, key_id, body = token.split(":", 2)
        except (ValueError, AttributeError) as exc:
            raise DecryptionError("not an encrypted value") from exc
        if version != _PREFIX:
            raise DecryptionError(f"unknown format {version!r}")
        aes = self._by_id.get(key_id)
        if aes is None:
            raise DecryptionError(f"no configured key has id {key_id!r}")
        try:
            raw = _b64decode(body)
            return aes.decrypt(raw[:12], raw[12:], f"{version}:{key_id}".encode()).decode("utf-8")
        except Exception as exc:  # InvalidTag, binascii errors, short input
            raise DecryptionError("ciphertext is invalid or was tampered with") from exc

    def needs_rotation(self, token: str) -> bool:
        return not token.startswith(f"{_PREFIX}:{self._current_id}:")


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        _hasher.hash(password)  # spend the same time as a real check
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hmac_sha256_hex(secret: str | bytes, message: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
