"""What the services read from the environment: every setting, its default, and its check, in one place.

A bad value stops the service at start-up with one line naming the variable and what it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from attrs import frozen

from adapters.logs import LEVELS

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


class SettingsError(Exception):
    """An environment variable holds a value the services cannot use."""


@frozen
class Setting:
    name: str
    default: str
    meaning: str


# The table the README shows; a test keeps the two in step.
SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", str(REPO / "var" / "data"), "folder of the services' SQLite files"),
    Setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "the Kafka cluster the services use"),
    Setting("ORDER_PORT", "8001", "Order Service HTTP port (make run)"),
    Setting("PRODUCT_PORT", "8002", "Product Service HTTP port (make run)"),
    Setting("MESSAGE_PORT", "8003", "Message Service HTTP port (make run)"),
    Setting("PRODUCT_SERVICE_URL", "http://127.0.0.1:8002", "where Order Service asks for availability"),
    Setting("PRODUCT_SERVICE_TIMEOUT_S", "2.0", "how long Order Service waits for that answer before a 503"),
    Setting("ORDER_PAYMENT_TIMEOUT_S", "1800", "unpaid orders older than this are cancelled (payment_timeout)"),
    Setting("ORDER_EXPIRY_INTERVAL_S", "30", "how often Order Service looks for such orders"),
    Setting("LOG_LEVEL", "info", "the least severe log lines written: debug, info, warning or error"),
)


@frozen
class Settings:
    data_dir: Path
    kafka_bootstrap_servers: str
    order_port: int
    product_port: int
    message_port: int
    product_service_url: str
    product_service_timeout_s: float
    order_payment_timeout_s: float
    order_expiry_interval_s: float
    log_level: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        def read(name: str, parse: Callable[[str], T], rule: str) -> T:
            default = next(s.default for s in SETTINGS if s.name == name)
            raw = environ.get(name, "").strip() or default
            try:
                return parse(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not {rule}") from None

        return cls(
            data_dir=read("DATA_DIR", lambda raw: Path(raw).resolve(), "a folder path"),
            kafka_bootstrap_servers=read("KAFKA_BOOTSTRAP_SERVERS", _host_ports, "host:port[,host:port...]"),
            order_port=read("ORDER_PORT", _port, "a port number (1-65535)"),
            product_port=read("PRODUCT_PORT", _port, "a port number (1-65535)"),
            message_port=read("MESSAGE_PORT", _port, "a port number (1-65535)"),
            product_service_url=read("PRODUCT_SERVICE_URL", _http_url, "an http:// or https:// URL"),
            product_service_timeout_s=read("PRODUCT_SERVICE_TIMEOUT_S", _positive, "a positive number of seconds"),
            order_payment_timeout_s=read("ORDER_PAYMENT_TIMEOUT_S", _positive, "a positive number of seconds"),
            order_expiry_interval_s=read("ORDER_EXPIRY_INTERVAL_S", _positive, "a positive number of seconds"),
            log_level=read("LOG_LEVEL", _log_level, f"one of {', '.join(LEVELS)}"),
        )


def _log_level(raw: str) -> str:
    if raw.lower() not in LEVELS:
        raise ValueError(raw)
    return raw.lower()


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError(raw)
    return port


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(raw)
    return raw.rstrip("/")


def _host_ports(raw: str) -> str:
    for address in raw.split(","):
        host, _, port = address.strip().rpartition(":")
        if not host:
            raise ValueError(raw)
        _port(port)
    return raw
