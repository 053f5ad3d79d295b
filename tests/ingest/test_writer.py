"""One batch, one transaction: readings, dead letters, duplicates, scoring (both backends)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import delete

from forewarn.db.models import Device
from forewarn.ingest.mqtt import AckToken
from forewarn.ingest.payloads import PayloadRules, parse_message
from forewarn.ingest.writer import BatchWriter, Delivery
from forewarn.runtime import Runtime, build_runtime
from tests.api.helpers import anomalies, artifact_files
from tests.factories import (
    FOREST,
    T0,
    Headers,
    make_device,
    normal_readings,
    register_device,
    trained_model,
)
from tests.ingest.helpers import dead_letters, telemetry

RULES = PayloadRules(topic_root="forewarn/v1", max_bytes=1024)
RECEIVED = T0 + 3_600_000
HOUR = 3_600_000


def delivery(device_id: uuid.UUID | str, payload: bytes, mid: int = 1) -> Delivery:
    """A message as the MQTT thread hands it over."""
    topic = f"forewarn/v1/devices/{device_id}/telemetry"
    outcome = parse_message(topic, payload, RECEIVED, RULES)
    return Delivery(AckToken(1, mid, 1), topic, payload[:512], RECEIVED, outcome)


def test_a_mixed_batch_stores_readings_and_dead_letters_together(runtime: Runtime) -> None:
    pump = make_device(runtime)
    stranger = uuid.uuid4()
    batch = [
        delivery(pump, b'{"ts": 1730000000000, "values": {"temperature": 25.5, "rpm": 1450}}'),
        delivery(pump, b'{"temperature": 26.0}'),
        delivery(pump, b'{"temperature": NaN}'),
        delivery(stranger, b'{"temperature": 1.0}'),
        delivery("not-a-uuid", b"\x00binary\xff"),
    ]
    result = BatchWriter(runtime.sessions, runtime.pipeline).write(batch)

    assert telemetry(runtime, pump) == [
        ("rpm", T0, 1450.0),
        ("temperature", T0, 25.5),
        ("temperature", RECEIVED, 26.0),
    ]
    assert (result.readings, result.scored, result.anomalies) == (3, 0, 0)
    letters = dead_letters(runtime)
    assert sorted(x.kind for x in letters) == ["bad_topic", "bad_value", "unknown_device"]
    by_kind = {x.kind: x for x in letters}
    unknown = by_kind["unknown_device"]
    assert unknown.topic == f"forewarn/v1/devices/{stranger}/telemetry"
    assert unknown.payload_excerpt == '{"temperature": 1.0}'
    assert unknown.reason == f"device {stranger} is not registered"
    assert unknown.received_at.timestamp() * 1000 == RECEIVED
    assert by_kind["bad_value"].reason == "temperature: NaN is not a finite number"
    assert by_kind["bad_topic"].payload_excerpt == "\ufffdbinary\ufffd"  # NUL cannot be stored
    assert sorted(x.kind for x in result.dead_letters) == sorted(by_kind)


def test_redelivered_messages_end_up_once(runtime: Runtime) -> None:
    pump = make_device(runtime)
    first = delivery(pump, b'{"ts": 1730000000000, "values": {"t": 1.0}}', mid=1)
    again = delivery(pump, b'{"ts": 1730000000000, "values": {"t": 1.0}}', mid=7)
    writer = BatchWriter(runtime.sessions, runtime.pipeline)
    writer.write([first, again])  # a redelivery inside one batch
    writer.write([again])  # and in a later one
    assert telemetry(runtime, pump) == [("t", T0, 1.0)]


def test_a_device_deleted_while_cached_does_not_stall_the_batch(runtime: Runtime) -> None:
    pump, fan = make_device(runtime, "Pump"), make_device(runtime, "Fan")
    writer = BatchWriter(runtime.sessions, runtime.pipeline)
    writer.write([delivery(pump, b'{"t": 1.0}'), delivery(fan, b'{"t": 1.0}')])  # both cached
    with runtime.sessions() as session:
        session.execute(delete(Device).where(Device.id == pump))
        session.commit()

    later = b'{"ts": 1730000000000, "values": {"t": 2.0}}'
    result = writer.write([delivery(pump, later), delivery(fan, later)])

    assert [x.kind for x in result.dead_letters] == ["unknown_device"]
    assert [x.kind for x in dead_letters(runtime)] == ["unknown_device"]
    assert ("t", T0, 2.0) in telemetry(runtime, fan)
    assert result.readings == 1


def test_readings_are_scored_and_anomalies_stored_in_the_batch(
    runtime: Runtime, client: TestClient, admin: Headers
) -> None:
    pump = register_device(client, admin)
    model = trained_model(
        client, admin, pump, normal_readings(200), **FOREST
    )  # readings around 25, until T0
    normal = f'{{"ts": {T0 + HOUR}, "values": {{"temperature": 25.1}}}}'.encode()
    hot = f'{{"ts": {T0 + 2 * HOUR}, "values": {{"temperature": 45.0}}}}'.encode()

    result = BatchWriter(runtime.sessions, runtime.pipeline).write(
        [delivery(pump, normal), delivery(pump, hot, mid=2)]
    )

    assert (result.readings, result.scored, result.anomalies) == (2, 2, 1)
    (stored,) = anomalies(client, admin)["data"]
    assert (stored["device_id"], stored["value"], stored["model_id"]) == (pump, 45.0, model["id"])


def test_a_message_the_database_refuses_becomes_a_store_failed_dead_letter(
    runtime: Runtime, client: TestClient, admin: Headers
) -> None:
    broken = register_device(client, admin, name="Broken")
    trained_model(client, admin, broken, normal_readings(200), **FOREST)
    (artifact,) = artifact_files(runtime, broken)
    artifact.write_bytes(artifact.read_bytes()[:-8] + b"tampered")  # its HMAC no longer holds
    fine = make_device(runtime, "Fine")
    reading = f'{{"ts": {T0 + HOUR}, "values": {{"temperature": 25.1}}}}'.encode()
    fresh = build_runtime(runtime.settings, migrate=False)  # loads artifacts anew
    try:
        result = BatchWriter(fresh.sessions, fresh.pipeline).write(
            [delivery(broken, reading), delivery(fine, reading)]
        )
    finally:
        fresh.close()

    (failed,) = dead_letters(runtime)
    assert failed.kind == "store_failed" and "ArtifactError" in failed.reason
    assert failed.topic.endswith(f"/{broken}/telemetry")
    assert telemetry(runtime, uuid.UUID(broken))[-1][1] == T0  # the training data only
    assert telemetry(runtime, fine) == [("temperature", T0 + HOUR, 25.1)]
    assert (result.readings, [x.kind for x in result.dead_letters]) == (1, ["store_failed"])
