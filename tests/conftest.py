from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from tests.fixtures.postgres import postgres_env, postgres_server  # noqa: E402, F401
from tests.fixtures.kafka import (  # noqa: E402, F401
    kafka_broker,
    kafka_config,
    kafka_topics,
    own_kafka_broker,
)
