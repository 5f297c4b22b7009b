"""Adapters: the ports of `ordering_core` implemented over Kafka, HTTP, SQLite and memory; `identity` checks
who is calling (bearer tokens).
"""
