from citela_common.migrations import run_env
from citela_feedback.models import Base

run_env(Base.metadata)
