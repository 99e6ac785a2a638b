"""Queue selectors for ordered sends (Java ``MessageQueueSelector`` implementations).

A selector is any callable ``(queues, message, arg) -> MessageQueue``; ``queues`` are
the topic's writable queues in route order (broker name, then queue id), the same on
every client, so one sharding key always lands on the same queue while the route
does not change.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Protocol, final

from rmq_client.message import Message
from rmq_protocol.codec.body import MessageQueue
from rmq_protocol.codec.hashing import java_string_hash

__all__ = ["HashSelector", "MessageQueueSelector", "RandomSelector", "RoundRobinSelector"]


class MessageQueueSelector(Protocol):
    """Chooses the queue of one send."""

    def __call__(
        self, queues: Sequence[MessageQueue], message: Message, arg: object
    ) -> MessageQueue: ...


@final
class HashSelector:
    """``abs(hash(arg) % len(queues))`` with Java's ``String.hashCode`` for strings
    (Java ``SelectMessageQueueByHash``): Java producers put the same key on the same
    queue. ``arg`` defaults to the message's sharding key."""

    def __call__(
        self, queues: Sequence[MessageQueue], message: Message, arg: object
    ) -> MessageQueue:
        key = arg if arg is not None else message.sharding_key
        if key is None:
            raise ValueError("HashSelector needs a sharding key (arg or Message.sharding_key)")
        h = java_string_hash(key) if isinstance(key, str) else hash(key)
        return queues[abs(h) % len(queues)]


@final
class RoundRobinSelector:
    """Each call the next queue."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def __call__(
        self, queues: Sequence[MessageQueue], message: Message, arg: object
    ) -> MessageQueue:
        return queues[next(self._counter) % len(queues)]


@final
class RandomSelector:
    """A random queue (Java ``SelectMessageQueueByRandom``)."""

    def __call__(
        self, queues: Sequence[MessageQueue], message: Message, arg: object
    ) -> MessageQueue:
        return random.choice(queues)  # noqa: S311 - load spreading, not security
