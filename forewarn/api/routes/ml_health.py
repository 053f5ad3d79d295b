"""Model health: the latest findings (everyone), and a scan on demand (operators).

Reading never scans: a scan files and closes issues, so it is a POST, for operators.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from forewarn.api.deps import AnyUser, Operator, RuntimeDep, SessionDep
from forewarn.db.models import HealthEscalation, HealthFinding
from forewarn.errors import InvalidInputError
from forewarn.monitor.checks import CHECK_NAMES, Check
from forewarn.monitor.findings import escalations_of, latest_scan, list_findings, open_counts
from forewarn.schemas.health import (
    CheckSummary,
    EscalationPublic,
    FindingPublic,
    FindingStatus,
    HealthReport,
    ScanPublic,
)

router = APIRouter(prefix="/ml/health", tags=["ml"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


def _finding(row: HealthFinding, escalations: list[HealthEscalation]) -> FindingPublic:
    return FindingPublic.model_validate(
        {
            "id": row.id,
            "fingerprint": row.fingerprint,
            "check": row.check_name,
            "subject": row.subject,
            "title": row.title,
            "labels": row.labels,
            "details": row.details,
            "status": row.status,
            "occurrences": row.occurrences,
            "first_seen": row.first_seen,
            "opened_at": row.opened_at,
            "resolved_at": row.resolved_at,
            "escalations": [EscalationPublic.model_validate(e) for e in escalations],
        }
    )


def _report(
    session: Session,
    checks: tuple[Check, ...],
    status: FindingStatus | None,
    check: str | None,
    limit: int,
    offset: int,
) -> HealthReport:
    counts = open_counts(session)
    rows, total = list_findings(session, status, check, limit, offset)
    escalations = escalations_of(session, [row.id for row in rows])
    scan = latest_scan(session)
    return HealthReport(
        scan=ScanPublic.model_validate(scan) if scan else None,
        checks=[
            CheckSummary(
                check=c.name,
                description=c.description,
                labels=list(c.labels),
                open=counts.get(c.name, 0),
            )
            for c in checks
        ],
        data=[_finding(r, escalations[r.id]) for r in rows],
        count=total,
    )


@router.get(
    "",
    response_model=HealthReport,
    dependencies=[AnyUser],
    summary="Model health findings",
    responses={422: {"description": "Unknown check or invalid paging"}},
)
def read_health(
    session: SessionDep,
    runtime: RuntimeDep,
    status: Annotated[
        Literal["open", "resolved", "all"], Query(description="Which findings to list")
    ] = "open",
    check: Annotated[str | None, Query(description=f"One of: {', '.join(CHECK_NAMES)}")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> HealthReport:
    """The latest scan, open findings per check, and a page of findings (newest first)."""
    checks = runtime.monitor.checks
    if check is not None and check not in {c.name for c in checks}:
        names = ", ".join(c.name for c in checks)
        raise InvalidInputError(("query", "check"), f"unknown check {check!r}; one of: {names}")
    return _report(session, checks, None if status == "all" else status, check, limit, offset)


@router.post(
    "/scan",
    response_model=HealthReport,
    dependencies=[Operator],
    summary="Scan model health now",
    responses={409: {"description": "A scan is already running"}},
)
def scan_now(
    session: SessionDep, runtime: RuntimeDep, limit: Limit = 100, offset: Offset = 0
) -> HealthReport:
    """Run the checks now, escalate what changed, and return the open findings."""
    runtime.monitor.scan()
    session.rollback()  # end any snapshot taken before the scan: the report must see it
    return _report(session, runtime.monitor.checks, "open", None, limit, offset)
