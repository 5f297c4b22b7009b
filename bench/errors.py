"""The one error of the bench: something it needs did not work, and the message says what."""


class BenchError(Exception):
    """The bench cannot go on (a process did not start or answer, a load tool printed nothing, a check failed
    to run); run_bench.py prints the message with the path of the service logs, and keeps the folder."""
