"""The Kafka adapter of the messaging port (adapters.messaging.broker), over confluent-kafka."""
