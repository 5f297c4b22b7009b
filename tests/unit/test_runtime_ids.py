"""The services' ids: random version-4 UUIDs, distinct across threads, written as 32 hex digits."""

from __future__ import annotations

import threading
import uuid

from entrypoints.runtime import RandomIds


def test_an_id_is_a_version_4_rfc_uuid_in_32_lowercase_hex_digits():
    ids = RandomIds()

    for _ in range(3 * RandomIds.BATCH):  # across refills of the random bytes
        text = ids()
        parsed = uuid.UUID(text)
        assert text == parsed.hex
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_threads_drawing_ids_at_once_never_get_the_same_one():
    ids = RandomIds()
    drawn: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(ids() for _ in range(5 * RandomIds.BATCH))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [i for into in drawn for i in into]
    assert len(set(every)) == len(every) == 4 * 5 * RandomIds.BATCH
