"""What the services need from a log broker, and the machinery that works with any broker that has it.

    broker.py   the port: producer, consumer, records, errors (adapters.kafka and adapters.memory.broker
                implement it; tests/contract/test_broker_contract.py proves they agree)
    topics.py   the system's topics and their dead-letter topics
    relay.py    the outbox relay: committed outbox rows to the broker, a transaction per batch
    worker.py   the consumer worker: records to a service's use cases, poison records to a dead-letter topic

Nothing here imports confluent-kafka: the relay and the worker run unchanged over the in-memory broker.
"""
