"""Encrypting payloads so secrets in job state are not readable in Temporal (history, web UI).

Pass an :class:`AesGcmCodec` to ``JobsClient.connect(..., codec=...)`` (the worker built from that
client uses it too) or to ``JobsTestEnvironment``. Needs the ``encryption`` extra
(``cryptography``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from durable_jobs.errors import JobsError

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""

_NONCE_BYTES = 12


class AesGcmCodec(PayloadCodec):
    """AES-256-GCM over whole payloads; the key id travels with each payload for key rotation.

    ``keys`` maps key ids to 32-byte keys; ``key_id`` names the key that encrypts. Payloads
    encrypted with any key in ``keys`` decrypt.
    """

    def __init__(self, keys: dict[str, bytes], key_id: str) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as err:  # pragma: no cover - depends on the installed extras
            raise JobsError(
                "AesGcmCodec needs the 'cryptography' package (pip install "
                "'durable-jobs-temporal[encryption]')"
            ) from err
        if key_id not in keys:
            raise JobsError(f"AesGcmCodec: key id {key_id!r} is not among the keys {sorted(keys)}")
        for name, key in keys.items():
            if len(key) != 32:
                raise JobsError(f"AesGcmCodec: key {name!r} has {len(key)} bytes; expected 32")
        self._ciphers = {name.encode(): AESGCM(key) for name, key in keys.items()}
        self._key_id = key_id.encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload (its metadata and data) with the current key."""
        cipher = self._ciphers[self._key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), self._key_id)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self._key_id},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt payloads this codec encrypted; leave others as they are."""
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get("encryption-key-id", b"")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise JobsError(f"payload encrypted with unknown key id {key_id.decode()!r}")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            original = Payload()
            original.ParseFromString(cipher.decrypt(nonce, sealed, key_id))
            decoded.append(original)
        return decoded
