"""on_commit: items reach the callback after the outermost commit, never for rolled-back work."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from forewarn.runtime import Runtime
from forewarn.stream.commit import on_commit


def _begin(session: Session) -> None:
    session.execute(text("SELECT 1"))  # autobegins the transaction


def test_items_are_handed_over_once_on_commit(runtime: Runtime) -> None:
    got: list[object] = []
    with runtime.sessions() as session:
        _begin(session)
        on_commit(session, [1, 2], got.extend)
        on_commit(session, [3], got.extend)
        assert got == []
        session.commit()
        assert got == [1, 2, 3]
        _begin(session)  # the same session, a second transaction
        on_commit(session, [4], got.extend)
        session.commit()
    assert got == [1, 2, 3, 4]


def test_rollback_and_close_hand_over_nothing(runtime: Runtime) -> None:
    got: list[object] = []
    with runtime.sessions() as session:
        _begin(session)
        on_commit(session, [1], got.extend)
        session.rollback()
        session.commit()  # an empty transaction afterwards
        _begin(session)
        on_commit(session, [2], got.extend)
    # closed without commit
    assert got == []


def test_a_rolled_back_savepoint_takes_its_items_along(runtime: Runtime) -> None:
    got: list[object] = []
    with runtime.sessions() as session:
        _begin(session)
        on_commit(session, ["before"], got.extend)
        savepoint = session.begin_nested()
        on_commit(session, ["inside"], got.extend)
        savepoint.rollback()
        kept = session.begin_nested()
        on_commit(session, ["released"], got.extend)
        kept.commit()  # releasing a savepoint is not the commit
        assert got == []
        session.commit()
    assert got == ["before", "released"]


def test_a_released_savepoint_is_lost_with_its_outer_transaction(runtime: Runtime) -> None:
    got: list[object] = []
    with runtime.sessions() as session:
        _begin(session)
        with session.begin_nested():
            on_commit(session, ["inside"], got.extend)
        session.rollback()
    assert got == []


def test_a_failing_callback_does_not_fail_the_commit(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(items: list[object]) -> None:
        raise RuntimeError(f"cannot take {items}")

    got: list[object] = []
    with runtime.sessions() as session, caplog.at_level(logging.ERROR):
        _begin(session)
        on_commit(session, [1], refuse)
        on_commit(session, [2], got.extend)
        session.commit()
    assert got == [2]
    assert "after-commit callback failed" in caplog.text
