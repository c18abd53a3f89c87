"""Encrypting payloads so secrets in job state are not readable in Temporal (history, web UI).

Pass an :class:`AesGcmCodec` to ``JobsClient.connect(..., codec=...)`` (the worker built from that
client uses it too) or to ``JobsTestEnvironment``. Needs the ``encryption`` extra
(``cryptography``).

Keys can live in a key file (:func:`read_key_file`, :meth:`AesGcmCodec.from_key_file`), which is
also how the ``durable-jobs`` command line takes them (``--key-file``, ``--key-id``). One key a
line, ``key_id=base64``, the base64 of 32 random bytes; blank lines and lines starting with ``#``
are skipped::

    # add a key: echo "2026-12=$(openssl rand -base64 32)" >> keys.txt
    2026-11=<44 characters of base64>
    2026-12=<44 characters of base64>

A JSON object ``{"2026-11": "base64...", ...}`` is read too. The key id is stored with every
payload, so payloads encrypted with an older key still decrypt while it stays in the file; the
key that encrypts is named by ``key_id`` (``--key-id``), or is the only key of the file.
:mod:`durable_jobs.codec_server` serves a codec to Temporal's web UI and CLI.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from durable_jobs.errors import JobsError

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""

_NONCE_BYTES = 12
_KEY_BYTES = 32


def read_key_file(path: str | os.PathLike[str]) -> dict[str, bytes]:
    """The keys of a key file (see the module docstring), by key id; raises :class:`JobsError`.

    Error messages name the file and line, never the key material.
    """
    where = f"key file {os.fspath(path)}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise JobsError(f"{where}: cannot read it: {err}") from err
    entries: list[tuple[str, str, str]] = []
    if text.lstrip().startswith("{"):
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as err:
            raise JobsError(f"{where}: not valid JSON: {err}") from err
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise JobsError(f'{where}: expected a JSON object {{"key_id": "base64 key", ...}}')
        entries = [(f"{where}, key {name!r}", name, value) for name, value in mapping.items()]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, equals, value = line.partition("=")
            if not equals:
                raise JobsError(
                    f"{where} line {number}: expected key_id=base64key (no '=' on the line)"
                )
            entries.append((f"{where} line {number}", name.strip(), value.strip()))
    keys: dict[str, bytes] = {}
    for place, name, value in entries:
        if not name or any(c.isspace() for c in name):
            raise JobsError(f"{place}: key id {name!r} is invalid; expected a non-empty id")
        if name in keys:
            raise JobsError(f"{place}: key id {name!r} appears twice; expected each id once")
        keys[name] = _decode_key(place, name, value)
    if not keys:
        raise JobsError(f"{where}: no keys; expected lines key_id=base64key")
    return keys


def _decode_key(place: str, name: str, value: str) -> bytes:
    # Standard or URL-safe base64, with or without padding: both come out of common tools.
    normalized = value.replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        key = base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError) as err:
        raise JobsError(
            f"{place}: key {name!r} is not base64; expected the base64 of {_KEY_BYTES} bytes"
        ) from err
    if len(key) != _KEY_BYTES:
        raise JobsError(
            f"{place}: key {name!r} is {len(key)} bytes; expected {_KEY_BYTES} "
            "(openssl rand -base64 32)"
        )
    return key


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

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str], key_id: str | None = None) -> AesGcmCodec:
        """A codec with the keys of a key file (see the module docstring).

        ``key_id`` names the key that encrypts; it may be left out when the file has one key.
        Raises :class:`JobsError` naming the file and what was expected.
        """
        keys = read_key_file(path)
        if key_id is None:
            if len(keys) > 1:
                raise JobsError(
                    f"key file {os.fspath(path)} has keys {sorted(keys)}; expected a key id "
                    "naming the one that encrypts (--key-id, DURABLE_JOBS_KEY_ID)"
                )
            (key_id,) = keys
        if key_id not in keys:
            raise JobsError(
                f"key id {key_id!r} is not in key file {os.fspath(path)}; expected one of "
                f"{sorted(keys)}"
            )
        return cls(keys, key_id)

    @property
    def key_id(self) -> str:
        """The id of the key that encrypts."""
        return self._key_id.decode()

    @property
    def key_ids(self) -> list[str]:
        """The ids of every key that decrypts, sorted."""
        return sorted(name.decode() for name in self._ciphers)

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
        from cryptography.exceptions import InvalidTag

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
            try:
                opened = cipher.decrypt(nonce, sealed, key_id)
            except InvalidTag as err:
                raise JobsError(
                    f"payload encrypted with key id {key_id.decode()!r} does not decrypt with "
                    "the key of that id here; expected the key that encrypted it (same id, "
                    "different key?)"
                ) from err
            original = Payload()
            original.ParseFromString(opened)
            decoded.append(original)
        return decoded
