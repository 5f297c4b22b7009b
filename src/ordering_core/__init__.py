"""ordering_core: the pure domain of orders and stock (no I/O, no frameworks)."""
