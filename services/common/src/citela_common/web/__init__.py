"""HTTP plumbing shared by the services' FastAPI apps."""

from citela_common.web.app import create_service_app
from citela_common.web.problems import Problem, field_error

__all__ = ["Problem", "create_service_app", "field_error"]
