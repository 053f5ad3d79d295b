"""The telemetry writer on both backends: dedupe, COPY and INSERT upserts, transactions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Connection, event, func, select

from forewarn.db.models import Telemetry
from forewarn.errors import NotFoundError
from forewarn.runtime import Runtime
from forewarn.services.devices import delete_device
from forewarn.telemetry.query import latest_before, latest_before_each
from forewarn.telemetry.store import (
    OVERLAP_MIN_ROWS,
    Row,
    dedupe,
    storing,
    upsert_with_previous,
    write_rows,
)
from tests.factories import make_device

T0 = 1_730_000_000_000
DEVICE_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def _rows(
    device_id: uuid.UUID, n: int, metric: str = "temperature", offset: float = 0.0, start: int = T0
) -> list[Row]:
    values = np.random.default_rng(n).normal(25.0, 1.0, n) + offset
    return [Row(device_id, metric, start + i * 1000, float(v)) for i, v in enumerate(values)]


@pytest.fixture
def device_id(runtime: Runtime) -> uuid.UUID:
    """A registered device (telemetry rows need one)."""
    return make_device(runtime, "Press 3", "press")


def stored(runtime: Runtime) -> dict[tuple[uuid.UUID, str, int], float]:
    """Every telemetry row, keyed like the primary key."""
    with runtime.engine.connect() as conn:
        result = conn.execute(
            select(Telemetry.device_id, Telemetry.metric_name, Telemetry.ts, Telemetry.value)
        )
        return {(d, m, int(t)): float(v) for d, m, t, v in result}


def as_dict(rows: list[Row]) -> dict[tuple[uuid.UUID, str, int], float]:
    """Rows keyed like the primary key (later rows win)."""
    return {(r.device_id, r.metric_name, r.ts): r.value for r in rows}


# ---- dedupe (pure) ---------------------------------------------------------------------------


def test_dedupe_keeps_the_last_value_of_each_key() -> None:
    other = uuid.uuid4()
    rows = [
        Row(DEVICE_A, "t", T0, 1.0),
        Row(DEVICE_A, "t", T0 + 1, 2.0),
        Row(DEVICE_A, "t", T0, 3.0),
        Row(DEVICE_A, "h", T0, 4.0),
        Row(other, "t", T0, 5.0),
        Row(DEVICE_A, "t", T0, 6.0),
    ]
    kept = dedupe(rows)
    assert sorted(kept) == sorted(
        [
            Row(DEVICE_A, "t", T0, 6.0),
            Row(DEVICE_A, "t", T0 + 1, 2.0),
            Row(DEVICE_A, "h", T0, 4.0),
            Row(other, "t", T0, 5.0),
        ]
    )
    assert len(rows) == 6  # the input is left alone


def test_dedupe_of_nothing_and_of_unique_rows() -> None:
    assert dedupe([]) == []
    unique = _rows(DEVICE_A, 50)
    assert dedupe(iter(unique)) == unique  # any iterable; order kept when nothing repeats


# ---- write_rows on both backends -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 63, 64, 65, 3000])
def test_write_rows_stores_every_row(runtime: Runtime, device_id: uuid.UUID, n: int) -> None:
    rows = _rows(device_id, n)
    with runtime.engine.begin() as conn:
        assert write_rows(conn, rows) == n
    assert stored(runtime) == as_dict(rows)


def test_write_rows_of_nothing_writes_nothing(runtime: Runtime, device_id: uuid.UUID) -> None:
    with runtime.engine.begin() as conn:
        assert write_rows(conn, []) == 0
    assert stored(runtime) == {}


@pytest.mark.parametrize("n", [20, 500])
def test_write_rows_upserts(runtime: Runtime, device_id: uuid.UUID, n: int) -> None:
    first = _rows(device_id, n)
    with runtime.engine.begin() as conn:
        write_rows(conn, first)
    # Half the keys again with new values, plus as many new keys: same-path sizes.
    again = [r._replace(value=r.value + 100) for r in first[: n // 2]]
    again += _rows(device_id, n - n // 2, start=T0 + 10_000_000)
    with runtime.engine.begin() as conn:
        assert write_rows(conn, again) == n
    assert stored(runtime) == as_dict(first) | as_dict(again)
    assert len(stored(runtime)) == n + n - n // 2


@pytest.mark.parametrize("n", [10, 200])
def test_duplicates_inside_one_write_keep_the_last(
    runtime: Runtime, device_id: uuid.UUID, n: int
) -> None:
    rows = _rows(device_id, n)
    doubled = rows + [r._replace(value=-r.value) for r in rows]
    with runtime.engine.begin() as conn:
        assert write_rows(conn, doubled) == n
    assert stored(runtime) == {k: -v for k, v in as_dict(rows).items()}


def test_several_devices_and_metrics_in_one_write(runtime: Runtime, device_id: uuid.UUID) -> None:
    second = make_device(runtime, "Press 4", "press")
    rows = (
        _rows(device_id, 100)
        + _rows(device_id, 100, metric="humidity", offset=30)
        + _rows(second, 100)
    )
    with runtime.engine.begin() as conn:
        assert write_rows(conn, rows) == 300
    assert stored(runtime) == as_dict(rows)


@pytest.mark.parametrize("n", [10, 500])
def test_rolled_back_write_leaves_nothing(runtime: Runtime, device_id: uuid.UUID, n: int) -> None:
    with runtime.engine.connect() as conn:
        transaction = conn.begin()
        assert write_rows(conn, _rows(device_id, n)) == n
        transaction.rollback()
        assert stored(runtime) == {}
        # The same connection writes normally afterwards (PostgreSQL's staging table too).
        rows = _rows(device_id, n, offset=5)
        with conn.begin():
            write_rows(conn, rows)
    assert stored(runtime) == as_dict(rows)


def test_successive_large_writes_on_one_connection_do_not_mix(
    runtime: Runtime, device_id: uuid.UUID
) -> None:
    first, second = _rows(device_id, 300), _rows(device_id, 200, start=T0 + 10_000_000)
    with runtime.engine.connect() as conn:
        for rows in (first, second):
            with conn.begin():
                assert write_rows(conn, rows) == len(rows)
        with conn.begin():
            assert write_rows(conn, first[:100]) == 100  # stage reused after a commit
    assert stored(runtime) == as_dict(first) | as_dict(second)


# ---- storing: the write overlapped with the caller's work --------------------------------

BIG = OVERLAP_MIN_ROWS + 500  # PostgreSQL copies this many from a helper thread


def _busy() -> int:
    """CPU work standing in for scoring while the rows are copied."""
    return sum(i * i for i in range(50_000))


@pytest.mark.parametrize("n", [10, BIG])
def test_storing_has_the_rows_written_when_the_block_ends(
    runtime: Runtime, device_id: uuid.UUID, n: int
) -> None:
    rows = _rows(device_id, n)
    with runtime.engine.begin() as conn:
        with storing(conn, rows) as count:
            assert _busy() > 0
        assert count == n
        # The same connection goes on in the same transaction.
        assert conn.execute(select(func.count()).select_from(Telemetry)).scalar_one() == n
    assert stored(runtime) == as_dict(rows)


@pytest.mark.parametrize("n", [10, BIG])
def test_storing_upserts_readings_stored_before(
    runtime: Runtime, device_id: uuid.UUID, n: int
) -> None:
    first = _rows(device_id, n)
    with runtime.engine.begin() as conn:
        write_rows(conn, first[: n // 2])
    again = _rows(device_id, n, offset=7.0)
    with runtime.engine.begin() as conn, storing(conn, again + again[:3]) as count:
        _busy()
    assert count == n
    assert stored(runtime) == as_dict(again)


@pytest.mark.slow
@pytest.mark.parametrize("n", [10, BIG])
def test_a_failing_block_stores_nothing_and_the_connection_goes_on(
    runtime: Runtime, device_id: uuid.UUID, n: int
) -> None:
    with runtime.engine.connect() as conn:
        transaction = conn.begin()
        with pytest.raises(ZeroDivisionError), storing(conn, _rows(device_id, n)):
            _ = 1 / 0
        transaction.rollback()
        assert stored(runtime) == {}
        rows = _rows(device_id, n, offset=3.0)
        with conn.begin(), storing(conn, rows):
            pass
    assert stored(runtime) == as_dict(rows)


@pytest.mark.parametrize("n", [1, 10, BIG])
def test_readings_of_an_unregistered_device_are_refused(
    runtime: Runtime, device_id: uuid.UUID, n: int
) -> None:
    unregistered = uuid.UUID("00000000-0000-4000-8000-0000000000ff")
    mixed = _rows(device_id, n) + _rows(unregistered, n)
    for write in (
        lambda conn: write_rows(conn, mixed),
        lambda conn: storing(conn, mixed).__enter__(),
    ):
        with pytest.raises(NotFoundError) as refused, runtime.engine.begin() as conn:
            write(conn)
        assert refused.value.ident == unregistered
    if runtime.engine.dialect.name == "postgresql":
        with pytest.raises(NotFoundError), runtime.engine.begin() as conn:
            upsert_with_previous(conn, _rows(unregistered, 1)[0])
    assert stored(runtime) == {}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite: one writer
def test_deleting_a_device_waits_for_its_readings_in_flight_and_deletes_them(
    runtime: Runtime, device_id: uuid.UUID
) -> None:
    kept = make_device(runtime, "Kept", "press")
    deleted = threading.Event()

    def delete() -> None:
        with runtime.sessions() as session:
            delete_device(session, device_id)
        deleted.set()

    with runtime.engine.connect() as conn, conn.begin():
        write_rows(conn, _rows(device_id, BIG) + _rows(kept, 5))
        deleter = threading.Thread(target=delete)
        deleter.start()
        # The delete waits for this transaction (its KEY SHARE lock on the device row).
        assert not deleted.wait(0.5)
    deleter.join(10)
    assert deleted.is_set()
    assert stored(runtime) == as_dict(_rows(kept, 5))


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """SQL sent through SQLAlchemy while the test runs."""
    seen: list[str] = []

    def record(_conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize(("n", "via_insert"), [(63, True), (64, False), (2000, False)])
def test_postgres_copies_large_batches_and_inserts_small_ones(
    runtime: Runtime, device_id: uuid.UUID, statements: list[str], n: int, via_insert: bool
) -> None:
    rows = _rows(device_id, n)
    with runtime.engine.begin() as conn:
        statements.clear()
        write_rows(conn, rows)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO TELEMETRY")]
    assert bool(inserts) is via_insert
    assert stored(runtime) == as_dict(rows)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_upsert_with_previous_returns_the_reading_before_it(
    runtime: Runtime, device_id: uuid.UUID
) -> None:
    other = Row(device_id, "humidity", T0 + 5000, 50.0)  # another series: never "previous"
    with runtime.engine.begin() as conn:
        write_rows(conn, [Row(device_id, "temperature", T0, 1.0), other])
        assert upsert_with_previous(conn, Row(device_id, "temperature", T0 - 1000, 0.5)) is None
        assert upsert_with_previous(conn, Row(device_id, "temperature", T0 + 9000, 2.0)) == T0
        assert upsert_with_previous(conn, Row(device_id, "temperature", T0 + 4000, 3.0)) == T0
        # Re-sending a reading overwrites it and still answers with the one before it.
        assert upsert_with_previous(conn, Row(device_id, "temperature", T0 + 9000, 4.0)) == (
            T0 + 4000
        )
    rows = stored(runtime)
    assert rows[(device_id, "temperature", T0 + 9000)] == 4.0
    assert rows[(device_id, "temperature", T0 - 1000)] == 0.5
    assert len(rows) == 5


def test_latest_before_each_answers_every_series_in_order(
    runtime: Runtime, device_id: uuid.UUID
) -> None:
    with runtime.engine.begin() as conn:
        write_rows(conn, _rows(device_id, 50) + _rows(device_id, 20, metric="humidity"))
    wanted = [
        (device_id, "temperature", T0 + 10_500),  # between readings 10 and 11
        (device_id, "humidity", T0),  # nothing before the first
        (device_id, "temperature", T0 + 10**9),  # after all: the last
        (DEVICE_A, "temperature", T0 + 5_000),  # an unknown device
        (device_id, "humidity", T0 + 19_000),  # exactly at a reading: strictly before
    ]
    with runtime.sessions() as session:
        found = latest_before_each(session, wanted)
        one_by_one = [latest_before(session, *item) for item in wanted]
    assert found == one_by_one == [T0 + 10_000, None, T0 + 49_000, None, T0 + 18_000]
