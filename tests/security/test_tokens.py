"""Access tokens: what verifies, and every way a token is refused."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from forewarn.security.roles import Role
from forewarn.security.tokens import TokenError, TokenVerifier, issue_token, verify_token

SECRET = secrets.token_urlsafe(64)
TTL = timedelta(minutes=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _with_payload(token: str, payload: dict[str, object]) -> str:
    """The same header and signature around a different payload (a forgery)."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def _claims(**changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "role": "viewer",
        "aud": "forewarn-api",
        "iat": now,
        "exp": now + TTL,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_round_trip_returns_user_role_and_expiry() -> None:
    user_id = uuid.uuid4()
    issued = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    token = issue_token(SECRET, user_id, Role.OPERATOR, TTL, now=issued)
    claims = verify_token(SECRET, token)
    assert claims.user_id == user_id
    assert claims.role is Role.OPERATOR
    assert claims.expires_at == issued + TTL


def test_each_token_is_unique() -> None:
    user_id = uuid.uuid4()
    now = datetime.now(UTC)
    first = issue_token(SECRET, user_id, Role.VIEWER, TTL, now=now)
    second = issue_token(SECRET, user_id, Role.VIEWER, TTL, now=now)
    assert first != second


def test_expired_token_is_refused_as_expired() -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    token = issue_token(SECRET, uuid.uuid4(), Role.ADMIN, TTL, now=past)
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, token)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token(secrets.token_urlsafe(40), uuid.uuid4(), Role.ADMIN, TTL)
    with pytest.raises(TokenError, match="invalid"):
        verify_token(SECRET, token)


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
def test_flipping_a_character_is_refused(part: int) -> None:
    pieces = issue_token(SECRET, uuid.uuid4(), Role.VIEWER, TTL).split(".")
    pieces[part] = _flip(pieces[part], len(pieces[part]) // 2)
    with pytest.raises(TokenError):
        verify_token(SECRET, ".".join(pieces))


def test_forged_role_is_refused() -> None:
    token = issue_token(SECRET, uuid.uuid4(), Role.VIEWER, TTL)
    forged = _with_payload(token, {**_payload(token), "role": "admin"})
    with pytest.raises(TokenError):
        verify_token(SECRET, forged)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        jwt.encode(_claims(), SECRET, algorithm="HS512"),
        jwt.encode(_claims(), None, algorithm="none"),
        jwt.encode(_claims(aud="someone-else"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(aud=None), SECRET, algorithm="HS256"),
        jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub=None), SECRET, algorithm="HS256"),
        jwt.encode(_claims(role=None), SECRET, algorithm="HS256"),
        jwt.encode(_claims(sub="not-a-uuid"), SECRET, algorithm="HS256"),
        jwt.encode(_claims(role="superuser"), SECRET, algorithm="HS256"),
    ],
    ids=[
        "empty",
        "garbage",
        "three-dots",
        "hs512",
        "alg-none",
        "wrong-audience",
        "no-audience",
        "no-expiry",
        "no-subject",
        "no-role",
        "subject-not-uuid",
        "unknown-role",
    ],
)
def test_malformed_or_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError, match="invalid"):
        verify_token(SECRET, token)


def test_well_formed_hand_made_token_verifies() -> None:
    """The refusals above fail for their one defect, not because hand-made tokens never pass."""
    user_id = uuid.uuid4()
    token = jwt.encode(_claims(sub=str(user_id)), SECRET, algorithm="HS256")
    assert verify_token(SECRET, token).user_id == user_id


def test_the_verifier_remembers_valid_tokens_but_still_refuses_them_once_expired() -> None:
    secret = "s" * 40
    now = [datetime.now(UTC)]
    verifier = TokenVerifier(secret, max_tokens=2, clock=lambda: now[0])
    user = uuid.uuid4()
    token = issue_token(secret, user, Role.VIEWER, timedelta(minutes=5), now=now[0])
    assert verifier.verify(token).user_id == user
    assert verifier.verify(token).user_id == user  # from memory
    now[0] += timedelta(minutes=5, seconds=1)
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(token)


@pytest.mark.slow
def test_the_verifier_refuses_what_verify_token_refuses() -> None:
    verifier = TokenVerifier("s" * 40)
    foreign = issue_token("t" * 40, uuid.uuid4(), Role.ADMIN, timedelta(minutes=5))
    for bad in (foreign, foreign[:-2] + "xx", "not-a-token"):
        with pytest.raises(TokenError):
            verifier.verify(bad)
