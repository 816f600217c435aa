"""kombu's Redis transport, so that a worker survives Redis going away (CELERY_BROKER_TRANSPORT).

When the broker connection drops, Celery's consumer first collects the dead connection (kombu clears
the transport's `client`) and then closes it, which closes its channel again. That close tries to put
the worker's unacknowledged messages back on the queue (every eta task the worker holds, every
`acks_late` task it runs) through a new Redis client built from the cleared `client`: an
AttributeError that no one expects, so Celery stops the worker ("Unrecoverable error") instead of
reconnecting. The fault drill that stops Redis found it (tests/drills/test_redis_outage.py): with one
incident declared, every worker was gone for good after the first Redis blip.

Here that close fails as what it is, a lost connection, which kombu and Celery already ignore in
clean-up; the worker then reconnects. The messages it could not put back stay in Redis's `unacked`
hash and come back after the visibility timeout (or are gone with a Redis that kept nothing); the
outbox, escalation, ack and ingestion sweepers cover both.
"""

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
