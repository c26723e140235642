"""problem+json, request ids, health and metrics, on a service app built from common."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from citela_common.web import Problem, create_service_app, field_error


class Avis(BaseModel):
    satisfaction: int = Field(ge=1, le=5)
    importance: int = Field(ge=1, le=5)
    commentaire: str = Field(max_length=20)


def make_app(ready: bool = True) -> FastAPI:
    app = create_service_app("feedback", title="test", checks={"database": lambda: ready})

    @app.post("/v1/avis/{entry_id}")
    def post(entry_id: str, avis: Avis) -> dict[str, str]:
        if entry_id == "inconnu":
            raise Problem(
                404,
                f"Unknown catalogue entry {entry_id!r}.",
                slug="unknown-entry",
                errors=[field_error("entry_id", "no such catalogue entry")],
            )
        return {"ok": entry_id}

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    return app


def test_validation_errors_name_each_field_in_problem_json() -> None:
    client = TestClient(make_app())
    r = client.post("/v1/avis/mairie", json={"satisfaction": 9, "commentaire": "x" * 30})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Données invalides"
    assert body["status"] == 422
    assert body["instance"] == "/v1/avis/mairie"
    assert body["request_id"] == r.headers["x-request-id"]
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"body.satisfaction", "body.importance", "body.commentaire"}
    assert fields["body.satisfaction"]["code"] == "less_than_equal"
    assert "5" in fields["body.satisfaction"]["reason"]
    assert fields["body.importance"]["code"] == "missing"


def test_domain_problems_unknown_routes_and_crashes_are_problem_json() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    r = client.post(
        "/v1/avis/inconnu", json={"satisfaction": 1, "importance": 1, "commentaire": "ok"}
    )
    assert r.status_code == 404
    assert r.json()["type"].endswith("/unknown-entry")
    assert r.json()["errors"][0]["field"] == "entry_id"
    r = client.get("/v1/nulle-part")
    assert (r.status_code, r.json()["title"]) == (404, "Ressource introuvable")
    r = client.get("/v1/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in r.text
    assert r.json()["title"] == "Erreur interne"


def test_request_id_is_kept_when_sane_and_replaced_otherwise() -> None:
    client = TestClient(make_app())
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["x-request-id"]
    assert replaced != "<script>"
    assert len(replaced) == 32


def test_readiness_reflects_the_dependencies() -> None:
    ready = TestClient(make_app(True)).get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    assert ready.json()["checks"]["database"]["state"] == "ok"
    r = TestClient(make_app(False)).get("/readyz")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["checks"]["database"]["state"] == "failing"
    assert r.json()["checks"]["database"]["required"] is True


def test_metrics_count_requests_by_route_template_not_raw_path() -> None:
    client = TestClient(make_app())
    for entry in ("mairie-a", "mairie-b"):
        client.post(
            f"/v1/avis/{entry}", json={"satisfaction": 3, "importance": 4, "commentaire": "bien"}
        )
    text = client.get("/metrics").text
    assert (
        'citela_http_requests_total{method="POST",route="/v1/avis/{entry_id}",'
        'service="feedback",status="200"}'
    ) in text
    assert "mairie-a" not in text
    assert "citela_http_request_duration_seconds_bucket" in text
