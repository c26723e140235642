from citela_common.migrations import run_env
from citela_analytics.models import Base

run_env(Base.metadata)
