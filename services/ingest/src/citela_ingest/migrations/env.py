from citela_common.migrations import run_env
from citela_ingest.models import Base

run_env(Base.metadata)
