"""What every composition root wires for the events its service consumes, the same way in all three.

    consuming = consume(broker, group=GROUP, consumed=product_events(...), batch=storage.common.batch,
                        on_batch_committed=relay.wake)
    background(workers=[relay, *consuming.workers()], ...)
    create_app(..., dead_letters=consuming.endpoints(), registry=registry_of(..., *consuming.collectors()))

The consumer worker (adapters.messaging.worker) applies the service's table of use cases
(entrypoints.consumers); the records it cannot apply are this service's dead letters, which an admin lists
and replays over HTTP (entrypoints.dead_letters); the watch (adapters.messaging.dead_letter_watch) counts
those waiting for the gauge, again at once after a record is set aside or replayed.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from adapters.http.access import Endpoint
from adapters.messaging.broker import Broker
from adapters.messaging.dead_letter_watch import DeadLetterWatch
from adapters.messaging.dead_letters import DeadLetters
from adapters.messaging.topics import dead_letter_topic
from adapters.messaging.worker import Batch, ConsumerWorker
from adapters.metrics import ConsumerCollector, DeadLettersWaitingCollector
from entrypoints.consumers import Consumption
from entrypoints.dead_letters import dead_letter_endpoints
from entrypoints.runtime import Worker, utc_now


@frozen
class Consuming:
    worker: ConsumerWorker
    dead_letters: DeadLetters
    waiting: DeadLetterWatch

    def workers(self) -> list[Worker]:
        """The threads to start with the service: the consumer and the count of dead letters waiting."""
        return [self.worker, self.waiting]

    def endpoints(self) -> list[Endpoint]:
        return dead_letter_endpoints(self.dead_letters, on_replayed=self.waiting.wake)

    def collectors(self) -> tuple[ConsumerCollector, DeadLettersWaitingCollector]:
        return ConsumerCollector([self.worker]), DeadLettersWaitingCollector(self.waiting)


def consume(
    broker: Broker,
    *,
    group: str,
    consumed: Consumption,
    batch: Batch | None = None,
    on_batch_committed: Callable[[], None] = lambda: None,
    instance: str | None = None,
) -> Consuming:
    """`group`'s worker over the topics `consumed` names, and the dead-letter topics of those topics;
    `batch` applies the records a poll has ready in one database transaction, after which
    `on_batch_committed` runs (the outbox relay's wake: what they published is visible only now);
    `instance` names this process among the service's (its dead-letter producer's transactional id)."""
    dead_letters = DeadLetters(
        broker, topics=[dead_letter_topic(t) for t in consumed.topics], name=group, clock=utc_now
    )
    waiting = DeadLetterWatch(dead_letters.waiting)
    worker = ConsumerWorker(
        broker, group=group, topics=consumed.topics, apply=consumed.apply, clock=utc_now, on_dead_letter=waiting.wake,
        instance=instance, batch=batch, on_batch_committed=on_batch_committed,
    )
    return Consuming(worker, dead_letters, waiting)
