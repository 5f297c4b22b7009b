"""Events as bytes: the one serialization every adapter that stores or sends an event uses.

    codec.py      an event to a record's key, value and headers and back, strictly (asyncapi.yaml)
    converter.py  the strict cattrs converter for the wire's values, and the reasons its refusals become

The broker adapters and the outboxes (SQLite, in memory) import these; none of them imports another's.
"""
