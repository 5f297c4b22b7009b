"""The chaos run (`python -m chaos`, `make chaos`): steady order traffic while services and the broker are
killed, paused and cut off, then checks that nothing was lost, duplicated or oversold. RELIABILITY.md has
what it injects, what it checks and the latest figures.

    plan.py          the seeded fault schedule (pure)
    system.py        Kafka (a broker or three nodes) and the services (one or several processes each) of the
                     run, each process known by its pid
    proxy.py         the link from the Order Service to the Product Service: slowed or cut on demand
    traffic.py       the clients: place, pay, cancel, retries with the same Idempotency-Key
    ledger.py        what the clients did and heard, and what that allows the final state to be (pure)
    faults.py        each fault put in place, repaired, and its recovery timed
    cluster_faults.py  the cluster form: which instance or node a kill takes; relay takeover, node loss
    observe.py       readiness, metrics, the shelf during the load, the final state
    dead_letters.py  the dead-letter topics, read from the beginning
    checks.py        the verdicts (pure)
    summary.py       the figures and the JSON document (pure)
    session.py       one run, start to verdict
"""
