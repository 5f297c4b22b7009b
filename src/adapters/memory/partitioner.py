"""Which partition a key goes to: the Java Kafka client's rule, so memory and Kafka agree on every key.

The Kafka adapter configures librdkafka with `partitioner=murmur2_random`, which is the Java client's
default partitioner: `toPositive(murmur2(key)) % partitions`. This module is that function, bit for bit
(org.apache.kafka.common.utils.Utils.murmur2), so a key lands on the same partition number in both brokers.
"""

from __future__ import annotations

_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 hash of `data`, as the signed int Java's `Utils.murmur2` returns."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = data[whole:]
    if tail:
        # Java's switch falls through: 3 tail bytes mix in all three, then multiply once.
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition the Java client (and librdkafka's murmur2_random) picks for a non-null key."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
