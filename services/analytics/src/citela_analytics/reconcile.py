"""The matrix against the feedback service's own counts, per tenant and catalogue entry.

``recompute`` rebuilds the matrix from analytics' facts: it cannot see an answer whose event
never arrived. This asks the feedback service (over its HTTP API, with an operator token
minted from the platform's secret, the credentials of the process running it) how many
current answers each entry has, and compares. To repair, it asks, entry by entry, which
feedbacks and revisions the service holds, compares them with the facts, has the service
publish again the events of those that differ (its outbox; consumers skip what they had), and
waits for them before recomputing the matrix.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citela_analytics.models import FeedbackFact, MatrixCell
from citela_common.auth import TokenService
from citela_common.settings import Settings

REPUBLISH_CHUNK = 1000  # the feedback service's bound per call


class FeedbackApiError(RuntimeError):
    """The feedback service did not answer as expected."""


class FeedbackApi:
    """The few operator routes of the feedback API a reconciliation needs."""

    def __init__(self, base_url: str, settings: Settings, timeout_s: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"feedback API URL must be http(s): {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        issued = TokenService(settings).issue_access("citela-reconcile", {}, operator=True)
        self._token = issued.token

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise FeedbackApiError(f"{method} {path}: HTTP {exc.code} {detail}") from exc
        except OSError as exc:
            raise FeedbackApiError(f"{method} {path}: {exc}") from exc

    def tenants(self) -> list[str]:
        return [t["code"] for t in self._call("GET", "/v1/tenants")]

    def answer_counts(self, tenant: str) -> dict[str, int]:
        found = self._call("GET", f"/v1/ops/tenants/{_q(tenant)}/answer-counts")
        return {str(k): int(v) for k, v in found["entries"].items()}

    def answer_revisions(self, tenant: str, entry_id: str) -> dict[str, int]:
        query = urllib.parse.urlencode({"entry_id": entry_id})
        found = self._call("GET", f"/v1/ops/tenants/{_q(tenant)}/answers?{query}")
        return {str(k): int(v) for k, v in found["feedbacks"].items()}

    def republish(self, tenant: str, feedback_ids: list[str]) -> int:
        done = 0
        for start in range(0, len(feedback_ids), REPUBLISH_CHUNK):
            chunk = feedback_ids[start : start + REPUBLISH_CHUNK]
            body = {"feedback_ids": chunk}
            found = self._call("POST", f"/v1/ops/tenants/{_q(tenant)}/republish", body)
            done += int(found["republished"])
        return done


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def matrix_counts(session: Session, tenant: str) -> dict[str, int]:
    """Answers per entry in the matrix cells (what readers see)."""
    rows = session.execute(
        select(MatrixCell.entry_id, func.sum(MatrixCell.n))
        .where(MatrixCell.tenant_id == tenant)
        .group_by(MatrixCell.entry_id)
    )
    return {entry: int(n or 0) for entry, n in rows if n}


def fact_revisions(session: Session, tenant: str, entry_id: str) -> dict[str, int]:
    """The current (not retracted) facts of one entry: feedback id -> revision."""
    f = FeedbackFact
    rows = session.execute(
        select(f.feedback_id, f.revision).where(
            f.tenant_id == tenant, f.entry_id == entry_id, f.retracted_at.is_(None)
        )
    )
    return {feedback_id: int(revision) for feedback_id, revision in rows}


@dataclass
class TenantReport:
    tenant: str
    feedback_counts: dict[str, int]
    matrix_counts: dict[str, int]
    republished: int = 0
    ecarts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ecarts = [
            {"entry_id": entry, "feedback": expected, "matrix": actual}
            for entry in sorted(self.feedback_counts.keys() | self.matrix_counts.keys())
            if (expected := self.feedback_counts.get(entry, 0))
            != (actual := self.matrix_counts.get(entry, 0))
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "feedback": sum(self.feedback_counts.values()),
            "matrix": sum(self.matrix_counts.values()),
            "entries": len(self.feedback_counts.keys() | self.matrix_counts.keys()),
            "republished": self.republished,
            "ecarts": self.ecarts,
        }


Transaction = Callable[[str], Any]  # tenant -> a context manager giving a scoped session


def compare(api: FeedbackApi, tenant: str, transaction: Transaction) -> TenantReport:
    feedback = api.answer_counts(tenant)
    with transaction(tenant) as session:
        matrix = matrix_counts(session, tenant)
    return TenantReport(tenant, feedback, matrix)


def stale_feedbacks(held: Mapping[str, int], facts: Mapping[str, int]) -> list[str]:
    """The feedbacks whose facts differ from the service: missing, older, or no longer
    current there (retracted)."""
    differ = {fid for fid, rev in held.items() if facts.get(fid, 0) < rev}
    differ |= facts.keys() - held.keys()
    return sorted(differ)


def repair(
    api: FeedbackApi,
    report: TenantReport,
    transaction: Transaction,
    recompute: Callable[[str], object],
    wait_s: float,
) -> TenantReport:
    """Have the feedback service republish what the facts lack, wait for it, recompute."""
    to_republish: list[str] = []
    for ecart in report.ecarts:
        entry = ecart["entry_id"]
        held = api.answer_revisions(report.tenant, entry)
        with transaction(report.tenant) as session:
            facts = fact_revisions(session, report.tenant, entry)
        to_republish += stale_feedbacks(held, facts)
    republished = api.republish(report.tenant, to_republish) if to_republish else 0
    deadline = time.monotonic() + wait_s
    while True:
        recompute(report.tenant)  # the facts may be right and the cells drifted
        after = compare(api, report.tenant, transaction)
        if not after.ecarts or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    after.republished = republished
    return after
