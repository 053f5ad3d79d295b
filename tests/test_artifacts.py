"""Signed model artifacts: round trips, tamper detection, and never unpickling."""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from forewarn.artifacts import (
    MAGIC,
    META_NAME,
    ArtifactError,
    artifact_key,
    load_artifact,
    save_artifact,
)
from forewarn.detection.isolation_forest import IsolationForestDetector

KEY = artifact_key("test-secret")
SIGNATURE_MISMATCH = "artifact signature mismatch: file was modified or signed with another secret"


class _CreatesMarker:
    """Unpickling this object would create a file: proof that a payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def _small_artifact(path: Path) -> int:
    arrays = {"weights": np.arange(12, dtype=np.float32), "counts": np.array([3, 1], np.uint16)}
    return save_artifact(path, arrays, {"model_id": "m-1", "version": 2}, KEY)


def test_round_trip_keeps_arrays_meta_and_reports_size(tmp_path: Path) -> None:
    path = tmp_path / "models" / "device" / "model.fwm"
    size = _small_artifact(path)

    arrays, meta = load_artifact(path, KEY)
    assert size == path.stat().st_size
    assert path.read_bytes().startswith(MAGIC)
    assert meta == {"model_id": "m-1", "version": 2}
    np.testing.assert_array_equal(arrays["weights"], np.arange(12, dtype=np.float32))
    assert arrays["counts"].dtype == np.uint16
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.fwm"]


def test_detector_artifact_is_small_and_scores_identically(tmp_path: Path) -> None:
    readings = np.random.default_rng(0).normal(25.0, 1.5, size=1000)
    detector = IsolationForestDetector(n_estimators=100).fit(readings)
    size = save_artifact(tmp_path / "m.fwm", detector.to_arrays(), detector.params(), KEY)

    arrays, meta = load_artifact(tmp_path / "m.fwm", KEY)
    loaded = IsolationForestDetector.from_arrays(arrays, params=meta)
    queries = np.linspace(10.0, 40.0, 3001)
    assert size <= 100_000
    np.testing.assert_array_equal(loaded.score_many(queries), detector.score_many(queries))


def test_any_flipped_byte_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.fwm"
    _small_artifact(path)
    original = path.read_bytes()
    for offset in range(len(original)):
        tampered = bytearray(original)
        tampered[offset] ^= 0x01
        path.write_bytes(bytes(tampered))
        with pytest.raises(ArtifactError):
            load_artifact(path, KEY)


def test_modified_payload_reports_signature_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "model.fwm"
    _small_artifact(path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=SIGNATURE_MISMATCH):
        load_artifact(path, KEY)


def test_wrong_key_is_rejected(tmp_path: Path) -> None:
    _small_artifact(tmp_path / "model.fwm")
    with pytest.raises(ArtifactError, match=SIGNATURE_MISMATCH):
        load_artifact(tmp_path / "model.fwm", artifact_key("another-secret"))


@pytest.mark.parametrize("keep", [0, 4, 8, 20, 40, 41, -1])
def test_truncated_file_is_rejected(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "model.fwm"
    _small_artifact(path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ArtifactError):
        load_artifact(path, KEY)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="model artifact not found"):
        load_artifact(tmp_path / "absent.fwm", KEY)


def test_pickle_file_is_foreign_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_CreatesMarker(marker)))

    with pytest.raises(ArtifactError, match="not a Forewarn model artifact"):
        load_artifact(path, KEY)
    assert not marker.exists()


def test_signed_pickled_array_is_never_unpickled(tmp_path: Path) -> None:
    # Even a payload signed with the right key must not be able to run code.
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    np.savez_compressed(buffer, evil=np.array([_CreatesMarker(marker)], dtype=object))
    payload = buffer.getvalue()
    signature = hmac.new(KEY, payload, hashlib.sha256).digest()
    path = tmp_path / "model.fwm"
    path.write_bytes(MAGIC + signature + payload)

    with pytest.raises(ArtifactError, match="payload unreadable"):
        load_artifact(path, KEY)
    assert not marker.exists()


def test_save_refuses_what_load_could_not_trust(tmp_path: Path) -> None:
    path = tmp_path / "model.fwm"
    with pytest.raises(ArtifactError, match="Python objects"):
        save_artifact(path, {"evil": np.array([object()], dtype=object)}, {}, KEY)
    with pytest.raises(ArtifactError, match="reserved"):
        save_artifact(path, {META_NAME: np.zeros(1)}, {}, KEY)
    with pytest.raises(ArtifactError, match="JSON"):
        save_artifact(path, {}, {"when": object()}, KEY)
    assert not path.exists()


def test_artifact_key_is_derived_from_the_secret() -> None:
    expected = hmac.new(b"s3cret", b"forewarn/model-artifact/v1", hashlib.sha256).digest()
    assert artifact_key("s3cret") == expected
    assert artifact_key("s3cret") != artifact_key("s3cret2")
    with pytest.raises(ArtifactError):
        artifact_key("")
