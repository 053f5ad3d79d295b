"""The published API description: security, response schemas, request examples, Swagger UI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from forewarn.api.app import create_app
from forewarn.runtime import build_runtime
from forewarn.schemas.auth import LoginRequest
from forewarn.schemas.devices import DeviceCreate
from forewarn.schemas.evaluation import EvaluateRequest
from forewarn.schemas.ml import TrainRequest
from forewarn.schemas.predict import BatchPredictRequest, PredictRequest
from forewarn.schemas.telemetry import Reading
from tests.factories import make_settings

OPEN_OPERATIONS = {("post", "/api/v1/auth/login"), ("get", "/api/v1/health")}
METHODS = {"get", "post", "put", "patch", "delete"}
EXAMPLED: tuple[type[BaseModel], ...] = (
    TrainRequest,
    PredictRequest,
    BatchPredictRequest,
    LoginRequest,
    DeviceCreate,
    Reading,
    EvaluateRequest,
)

JSON = dict[str, Any]


@pytest.fixture(scope="module")
def docs_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module: the API description does not depend on the database backend."""
    data_dir = tmp_path_factory.mktemp("openapi")
    runtime = build_runtime(make_settings(data_dir, f"sqlite:///{data_dir / 'forewarn.db'}"))
    with TestClient(create_app(runtime, own_runtime=False)) as client:
        yield client
    runtime.close()


@pytest.fixture(scope="module")
def spec(docs_client: TestClient) -> JSON:
    """The served OpenAPI document."""
    response = docs_client.get("/openapi.json")
    assert response.status_code == 200
    document: JSON = response.json()
    return document


def _operations(spec: JSON) -> dict[tuple[str, str], JSON]:
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _bearer_schemes(spec: JSON) -> set[str]:
    schemes = spec.get("components", {}).get("securitySchemes", {})
    return {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    }


def test_declares_an_http_bearer_scheme(spec: JSON) -> None:
    assert len(_bearer_schemes(spec)) == 1


def test_every_protected_operation_requires_the_bearer_scheme(spec: JSON) -> None:
    (scheme,) = _bearer_schemes(spec)
    operations = _operations(spec)
    assert len(operations) > len(OPEN_OPERATIONS)  # there is something to check
    missing = [
        key
        for key, op in operations.items()
        if key not in OPEN_OPERATIONS and {scheme: []} not in op.get("security", [])
    ]
    assert missing == []


def test_open_operations_do_not_ask_for_a_token(spec: JSON) -> None:
    operations = _operations(spec)
    assert set(operations) >= OPEN_OPERATIONS
    assert all(not operations[key].get("security") for key in OPEN_OPERATIONS)


def test_every_operation_documents_its_success_body(spec: JSON) -> None:
    problems = {}
    for key, operation in _operations(spec).items():
        success = [code for code in operation["responses"] if code.startswith("2")]
        if len(success) != 1:
            problems[key] = f"success codes {success}"
            continue
        response = operation["responses"][success[0]]
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if success[0] == "204":
            if response.get("content"):
                problems[key] = "204 with a body"
        elif not schema:
            problems[key] = f"{success[0]} without a schema"
    assert problems == {}


def test_success_schemas_name_the_response_models(spec: JSON) -> None:
    ops = _operations(spec)

    def ref(method: str, path: str, code: str) -> str:
        schema: JSON = ops[(method, f"/api/v1{path}")]["responses"][code]["content"][
            "application/json"
        ]["schema"]
        return str(schema.get("$ref", "")).rsplit("/", 1)[-1]

    assert ref("post", "/auth/login", "200") == "TokenResponse"
    assert ref("post", "/users", "201") == "UserPublic"
    assert ref("get", "/users", "200") == "Page_UserPublic_"
    assert ref("post", "/ml/predict", "200") == "PredictResponse"
    assert ref("post", "/ml/models/train", "201") == "ModelPublic"


@pytest.mark.parametrize("model", EXAMPLED, ids=[m.__name__ for m in EXAMPLED])
def test_request_bodies_carry_valid_examples(spec: JSON, model: type[BaseModel]) -> None:
    examples = spec["components"]["schemas"][model.__name__].get("examples")
    assert examples, f"{model.__name__} has no example"
    for example in examples:
        model.model_validate(example)  # an example a user copies must be accepted


def test_user_schemas_never_expose_a_password_hash(spec: JSON) -> None:
    public = spec["components"]["schemas"]["UserPublic"]["properties"]
    assert "password" not in public and "password_hash" not in public


def test_docs_serve_swagger_ui_for_this_spec(docs_client: TestClient) -> None:
    response = docs_client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text.lower()
    assert "/openapi.json" in response.text
