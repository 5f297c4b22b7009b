"""SQLite adapters: each service's units of work, reads and outbox, in one database file per service.

    database = Database(settings.data_dir / "order.db", ORDER_SCHEMA)   # creates or upgrades the file
    uow = SqliteOrderUnitOfWork(database)      # one per service, shared by its threads
    views = SqliteOrderViews(database)         # what the HTTP endpoints show
    outbox = SqliteOutbox(database)            # what the relay thread publishes
    ...
    database.close_all()                       # at shutdown, after the threads have stopped

`database` keeps one connection per thread; a unit of work's `with` block is one `BEGIN IMMEDIATE`
transaction on the calling thread's connection. The behaviour is the in-memory adapters' (`adapters.memory`),
and `tests/contract/test_storage_contract.py` holds both to it.
"""
