from citela_catalogue.models import Base
from citela_common.migrations import run_env

run_env(Base.metadata)
