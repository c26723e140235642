from citela_common.migrations import run_env
from citela_catalogue.models import Base

run_env(Base.metadata)
