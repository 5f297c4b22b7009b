"""Entry points: one Starlette app per service, wiring ports to adapters."""
