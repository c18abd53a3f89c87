"""Key files for AesGcmCodec: the formats the CLI reads, and errors that name what is wrong."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from durable_jobs.codec import AesGcmCodec, read_key_file
from durable_jobs.errors import JobsError

A, B = os.urandom(32), os.urandom(32)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys"
    path.write_text(text)
    return path


def test_lines_with_comments_and_both_base64_alphabets(tmp_path: Path) -> None:
    urlsafe_unpadded = base64.urlsafe_b64encode(B).decode().rstrip("=")
    path = write(
        tmp_path,
        f"# rotated monthly\n\n 2026-11 = {base64.b64encode(A).decode()}\n2026-12={urlsafe_unpadded}\n",
    )
    assert read_key_file(path) == {"2026-11": A, "2026-12": B}


def test_a_json_object(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"k1": base64.b64encode(A).decode()}))
    assert read_key_file(path) == {"k1": A}
    codec = AesGcmCodec.from_key_file(path)  # one key: it encrypts
    assert (codec.key_id, codec.key_ids) == ("k1", ["k1"])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no keys; expected lines key_id=base64key"),
        ("k1=%%%\n", "line 1: key 'k1' is not base64"),
        (f"k1={base64.b64encode(A).decode()}\nk1={base64.b64encode(B).decode()}\n", "twice"),
        ('{"k1": 5}', 'expected a JSON object {"key_id": "base64 key", ...}'),
        (f"={base64.b64encode(A).decode()}\n", "key id '' is invalid"),
    ],
    ids=["empty", "not-base64", "duplicate", "json-list", "no-id"],
)
def test_bad_files_are_refused_without_showing_keys(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(JobsError, match="key file") as caught:
        read_key_file(write(tmp_path, text))
    assert says in str(caught.value)
    assert base64.b64encode(A).decode() not in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobsError, match=r"key file .*nope: cannot read it"):
        read_key_file(tmp_path / "nope")


async def test_a_different_key_under_the_same_id_is_a_clear_error() -> None:
    sealed = await AesGcmCodec({"k": A}, "k").encode([Payload(data=b"x")])
    with pytest.raises(JobsError, match="key id 'k' does not decrypt with the key of that id"):
        await AesGcmCodec({"k": B}, "k").decode(sealed)
