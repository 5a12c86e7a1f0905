"""How many messages wait on each Celery queue (Redis lists), for the ops pages."""

from __future__ import annotations

from collections.abc import Iterable

import redis
from django.conf import settings

# kombu's Redis transport keeps priority levels in sibling lists named queue + this separator + level.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_LEVELS = (3, 6, 9)


def queue_depths(queues: Iterable[str]) -> dict[str, int | None]:
    """Messages waiting per queue; None for each when the broker cannot be asked."""
    names = sorted(set(queues))
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1)
        pipe = client.pipeline()
        for name in names:
            pipe.llen(name)
            for level in _PRIORITY_LEVELS:
                pipe.llen(f"{name}{_PRIORITY_SEP}{level}")
        counts = pipe.execute()
    except redis.RedisError:
        return dict.fromkeys(names)
    per_queue = 1 + len(_PRIORITY_LEVELS)
    return {name: sum(counts[i * per_queue : (i + 1) * per_queue]) for i, name in enumerate(names)}
