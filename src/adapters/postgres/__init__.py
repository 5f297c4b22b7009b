"""PostgreSQL adapters: each service's units of work, reads and outbox, in one database (or schema) per service.

    database = PostgresDatabase(url, PRODUCT_SCHEMA)   # opens its pool; creates or upgrades the tables
    uow = PostgresProductUnitOfWork(database)          # one per service, shared by its threads
    views = PostgresProductViews(database)             # what the HTTP endpoints show
    outbox = PostgresOutbox(database)                  # what the relay thread publishes
    ...
    database.close_all()                               # at shutdown, after the threads have stopped

A unit of work's `with` block is one transaction on a pooled connection, holding the service's writer lock
(`database.py` says why). The behaviour is the in-memory and SQLite adapters', and
`tests/contract/test_storage_contract.py` holds all of them to it.
"""
