"""Signed model artifact files: magic, HMAC-SHA256, then a compressed npz of named arrays.

Layout: ``b"FWMODEL1"`` (8 bytes) | HMAC-SHA256 over the payload (32 bytes) | payload.
The payload is an ``np.savez_compressed`` archive of the arrays plus the JSON meta stored
as uint8 bytes under a reserved name. Loading checks the magic and the signature before
parsing a single byte of the payload, and never unpickles.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from forewarn.errors import ForewarnError

MAGIC = b"FWMODEL1"
META_NAME = "__forewarn_meta__"
_DIGEST_SIZE = hashlib.sha256().digest_size
_HEADER_SIZE = len(MAGIC) + _DIGEST_SIZE
_KEY_CONTEXT = b"forewarn/model-artifact/v1"

Arrays = dict[str, np.ndarray[Any, Any]]


class ArtifactError(ForewarnError):
    """Raised when a model artifact cannot be written, found, trusted or parsed."""


def artifact_key(secret: str) -> bytes:
    """Key dedicated to signing artifacts, derived from the application secret."""
    if not secret:
        raise ArtifactError("the application secret must not be empty")
    # A separate derived key means an artifact signature can never double as a token one.
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def save_artifact(
    path: Path, arrays: Mapping[str, np.ndarray[Any, Any]], meta: Mapping[str, Any], key: bytes
) -> int:
    """Write a signed artifact atomically; return its size in bytes."""
    payload = _encode_payload(arrays, meta)
    data = MAGIC + _sign(payload, key) + payload
    _write_atomically(path, data)
    return len(data)


def load_artifact(path: Path, key: bytes) -> tuple[Arrays, dict[str, Any]]:
    """Verify and read an artifact: (arrays, meta)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise ArtifactError(f"model artifact not found: {path}") from err
    except OSError as err:
        raise ArtifactError(f"model artifact unreadable: {path}: {err.strerror}") from err
    if not data.startswith(MAGIC):
        raise ArtifactError(f"not a Forewarn model artifact: {path}")
    if len(data) < _HEADER_SIZE:
        raise ArtifactError(f"model artifact truncated: {path}")
    signature, payload = data[len(MAGIC) : _HEADER_SIZE], data[_HEADER_SIZE:]
    if not hmac.compare_digest(signature, _sign(payload, key)):
        raise ArtifactError(
            "artifact signature mismatch: file was modified or signed with another secret"
        )
    return _decode_payload(payload, path)


def _sign(payload: bytes, key: bytes) -> bytes:
    if not key:
        raise ArtifactError("the artifact key must not be empty")
    return hmac.new(key, payload, hashlib.sha256).digest()


def _encode_payload(arrays: Mapping[str, np.ndarray[Any, Any]], meta: Mapping[str, Any]) -> bytes:
    if META_NAME in arrays:
        raise ArtifactError(f"array name {META_NAME!r} is reserved for the meta data")
    for name, array in arrays.items():
        if np.asarray(array).dtype.hasobject:
            raise ArtifactError(f"array {name!r} holds Python objects; only plain dtypes")
    try:
        meta_json = json.dumps(dict(meta), sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise ArtifactError(f"artifact meta is not JSON-serialisable: {err}") from err
    members: dict[str, Any] = {**arrays, META_NAME: np.frombuffer(meta_json, dtype=np.uint8)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **members)
    return buffer.getvalue()


def _decode_payload(payload: bytes, path: Path) -> tuple[Arrays, dict[str, Any]]:
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop(META_NAME).tobytes())
    except (KeyError, ValueError, OSError, EOFError) as err:
        # Reached only with a valid signature: the writer itself produced a bad payload.
        raise ArtifactError(f"model artifact payload unreadable: {path}: {err}") from err
    if not isinstance(meta, dict):
        raise ArtifactError(f"model artifact meta is not an object: {path}")
    return arrays, meta


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target so os.replace is a rename, never a cross-device copy.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
