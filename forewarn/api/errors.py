"""Map domain exceptions and validation errors to HTTP responses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from forewarn.artifacts import ArtifactError
from forewarn.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError

_LOGGER = logging.getLogger(__name__)


@contextmanager
def in_body() -> Iterator[None]:
    """Locate the domain's input errors inside the request body (their loc is relative)."""
    try:
        yield
    except InvalidInputError as err:
        raise err.within("body") from err


def _json(code: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail}, headers=headers)


def _validation_detail(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's error list without echoing inputs (a huge batch would come back whole)."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in list(errors)[:50]
    ]


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, _validation_detail(exc.errors()))


async def _on_invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidInputError)
    detail = [{"loc": list(exc.loc), "msg": exc.message, "type": "value_error"}]
    return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


async def _on_not_found(_request: Request, exc: Exception) -> JSONResponse:
    return _json(status.HTTP_404_NOT_FOUND, str(exc))


async def _on_conflict(_request: Request, exc: Exception) -> JSONResponse:
    return _json(status.HTTP_409_CONFLICT, str(exc))


async def _on_auth(_request: Request, exc: Exception) -> JSONResponse:
    return _json(status.HTTP_401_UNAUTHORIZED, str(exc), {"WWW-Authenticate": "Bearer"})


async def _on_artifact(_request: Request, exc: Exception) -> JSONResponse:
    _LOGGER.error("model artifact refused: %s", exc)
    return _json(status.HTTP_500_INTERNAL_SERVER_ERROR, f"model artifact refused: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping on the app."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(InvalidInputError, _on_invalid)
    app.add_exception_handler(NotFoundError, _on_not_found)
    app.add_exception_handler(ConflictError, _on_conflict)
    app.add_exception_handler(AuthenticationError, _on_auth)
    app.add_exception_handler(ArtifactError, _on_artifact)
