"""The anchor of the intake benchmarks: a bare FastAPI + pydantic endpoint, nothing else.

It validates the very body the feedback service takes (the service's own ``FeedbackIn``) and
answers 201 with a JSON echo; no database, no bus, no authentication.
``uvicorn bench.support.bare_feedback:app --workers N`` (from the repository root).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from citela_feedback.schemas import BatchIn, FeedbackIn

app = FastAPI(title="bare anchor")


@app.post("/v1/tenants/{tenant}/feedback", status_code=201)
async def submit(tenant: str, body: FeedbackIn) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "tenant": tenant, **body.model_dump(mode="json")}


@app.post("/v1/tenants/{tenant}/feedback/batch")
async def batch(tenant: str, body: BatchIn) -> dict[str, Any]:
    return {"accepted": len(body.items), "rejected": 0}
