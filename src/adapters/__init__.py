"""Adapters: the ports of `ordering_core` implemented over Kafka, HTTP, SQLite, PostgreSQL and memory;
`identity` checks who is calling (bearer tokens); `retention` says what the databases keep, and how long.
"""
