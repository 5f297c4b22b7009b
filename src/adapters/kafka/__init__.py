"""Kafka adapters (confluent-kafka) and the list of topics."""
