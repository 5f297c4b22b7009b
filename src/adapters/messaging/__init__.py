"""What the services need from a log broker, and the machinery that works with any broker that has it.

    broker.py   the port: producer, consumer, records, errors (adapters.kafka and adapters.memory.broker
                implement it; tests/contract/test_broker_contract.py proves they agree)
    topics.py   the system's topics and their dead-letter topics
    relay.py    the outbox relay: committed outbox rows to the broker, a transaction per batch
    worker.py   the consumer worker: records to a service's use cases, poison records to a dead-letter topic
    progress.py where a worker is: the offsets it will commit, the record it is stuck on
    dead_letter_headers.py  what a dead letter carries besides its record, and a replayed record
    dead_letters.py         an operator's desk: list, show and replay dead letters
    dead_letter_watch.py    the count of dead letters waiting, behind a gauge

Nothing here imports confluent-kafka: the relay and the worker run unchanged over the in-memory broker.
"""
