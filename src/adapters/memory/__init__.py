"""In-memory adapters: real implementations of the ports, with state tests can inspect, and no I/O."""
