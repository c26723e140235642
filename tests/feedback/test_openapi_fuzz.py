"""Property-based run of schemathesis against the feedback service's own OpenAPI: whatever it
generates (valid and invalid), no 5xx, and every response matches the documented schema,
status codes and content types. Signed in as staff with every role (and as a partner app on
the partner routes), on a tenant whose catalogue is known, so the generated calls go deep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from citela_common.bus import InProcessBus
from citela_common.events.models import CATALOGUE_TOPIC
from citela_feedback import accounts, partners, tenants
from citela_feedback.service import build_runtime
from tests.catalogue import factories as cf
from tests.feedback.conftest import PAU_ENTRIES, feedback_settings
from tests.feedback.support import PASSWORD, Inbox

TENANT = "agglo-pau"
HEADERS: dict[str, dict[str, str]] = {}
EXAMPLES = 20


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory, smtp: tuple[Inbox, int]) -> Iterator[Any]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    runtime = build_runtime(feedback_settings(tmp, smtp[1]), InProcessBus())
    runtime.migrate()
    ctx = runtime.context
    with runtime.db.transaction() as session:
        tenants.create(
            session,
            code=TENANT,
            name="CA Pau Béarn Pyrénées",
            siren="200067254",
            territory_codes=["200067254"],
        )
        staff = accounts.create_account(
            session, ctx, "staff@pau.fr", PASSWORD, confirmed=True, operator=True
        )
        from citela_common.auth import Role
        from citela_common.tenancy import scope_to_tenant

        scope_to_tenant(session, TENANT)
        tenants.set_roles(session, TENANT, staff, [Role.ADMIN, Role.ANALYST, Role.MODERATOR])
        app_row = partners.create_app(session, tenant=TENANT, name="Appli")
        key = partners.create_key(
            session, app_row, scopes=["feedback:write", "feedback:read"], tenants=[TENANT]
        ).key
    runtime.bus.publish_many(
        (CATALOGUE_TOPIC, cf.event(d, TENANT)) for d in [*cf.GEOGRAPHY, *PAU_ENTRIES]
    )
    consumer = runtime.bus.consumer(
        [CATALOGUE_TOPIC], "feedback-catalogue", runtime.consumers[0].handler
    )
    consumer.poll_once(1.0)
    app = runtime.create_app()
    with TestClient(app) as client:
        token = client.post("/v1/auth/token", json={"email": "staff@pau.fr", "password": PASSWORD})
        HEADERS["staff"] = {"Authorization": f"Bearer {token.json()['access_token']}"}
        HEADERS["partner"] = {"X-API-Key": key}
        yield (
            schemathesis.openapi.from_asgi("/openapi.json", app)
            # erasing the account would sign the rest of the run out
            .exclude(method="DELETE", path="/v1/me")
        )
    runtime.db.dispose()


CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]


def run_operation(operation: Any, mode: GenerationMode, failures: list[str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        if "tenant" in (case.path_parameters or {}):
            case.path_parameters["tenant"] = TENANT
        partner = case.path.endswith("/feedback/batch")
        case.call_and_validate(
            headers=HEADERS["partner"] if partner else HEADERS["staff"], checks=CHECKS
        )

    try:
        run()
    except Unsatisfiable:
        pass  # nothing invalid to generate (an operation without parameters)
    except (Exception, BaseExceptionGroup) as exc:  # report every operation's failures together
        failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:3000])


# (The schemathesis pytest plugin's lazy loader does not run under pytest 9: the operations
# are driven through hypothesis directly.)
def test_no_server_error_and_every_response_matches_the_schema(fuzz_schema: Any) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(operation, mode, failures)
    assert not failures, "\n\n".join(failures)
