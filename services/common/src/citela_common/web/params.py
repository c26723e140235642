"""Path and query parameters every service's API shares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from citela_common.events.envelope import TENANT_PATTERN

TenantCode = Annotated[
    str,
    Path(pattern=TENANT_PATTERN.pattern, description="code of the tenant (collectivité)"),
]
"""The tenant (collectivité) a route is for, as the first segment of its path."""
