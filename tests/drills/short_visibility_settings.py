"""Production settings with a short Redis visibility timeout: for the replacement worker of drill (c) only.

The worker that drill (c) SIGKILLs leaves its unacknowledged deliveries (`acks_late`) in Redis; any live
worker puts them back on the queue once they are `visibility_timeout` old. Production waits an hour
(config/settings.py); a drill cannot, so its replacement worker waits seconds. The outbox sweeper
re-dispatches the same rows meanwhile: both recovery paths race, as they would after an hour in
production, and each row must still be sent once.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import CELERY_BROKER_TRANSPORT_OPTIONS

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "visibility_timeout": int(os.environ.get("DRILL_VISIBILITY_TIMEOUT", "10")),
    # kombu scans for expired messages every interval × throttle seconds (100 s by default).
    "unacked_restore_interval": 2,
    "unacked_restore_throttle": 1,
}
