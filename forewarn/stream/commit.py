"""Run a callback with items gathered during a transaction, once that transaction commits.

Items added inside a savepoint that is rolled back are dropped with it; nothing is handed
over when the whole transaction rolls back or the session closes without committing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_LOGGER = logging.getLogger(__name__)
_KEY = "forewarn.on_commit"  # session.info key: callback -> [(transaction, items)]

Callback = Callable[[list[Any]], None]
_Pending = dict[Callback, list[tuple[SessionTransaction, Sequence[Any]]]]


def on_commit(session: Session, items: Sequence[Any], callback: Callback) -> None:
    """Call `callback(items…)` after the session's outermost transaction commits."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None:
        pending = session.info[_KEY] = {}
        event.listen(session, "after_commit", _fire)
        event.listen(session, "after_soft_rollback", _discard)
        event.listen(session, "after_transaction_end", _end)
    # The innermost transaction: if that savepoint rolls back, these items go with it.
    owner = session.get_nested_transaction() or session.get_transaction()
    if owner is None:  # no transaction yet: the items belong to the next one
        owner = session.begin()
    pending.setdefault(callback, []).append((owner, items))


def _fire(session: Session) -> None:
    """After a commit: hand the items over, unless only a savepoint was released."""
    if session.get_nested_transaction() is not None:
        return  # the outer transaction may still roll back
    pending: _Pending = session.info[_KEY]
    batches = list(pending.items())
    pending.clear()
    for callback, entries in batches:
        items = [item for _, chunk in entries for item in chunk]
        try:
            callback(items)
        except Exception:  # the data is committed; a failing listener must not undo the reply
            _LOGGER.exception("after-commit callback failed")


def _discard(session: Session, rolled_back: SessionTransaction) -> None:
    """Drop items added in the rolled-back transaction or any savepoint inside it."""
    pending: _Pending = session.info[_KEY]
    for entries in pending.values():
        entries[:] = [(owner, items) for owner, items in entries if not _within(owner, rolled_back)]


def _end(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended without a commit (closed): forget everything."""
    if transaction.parent is None:
        session.info[_KEY].clear()


def _within(owner: SessionTransaction, ancestor: SessionTransaction) -> bool:
    current: SessionTransaction | None = owner
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False
