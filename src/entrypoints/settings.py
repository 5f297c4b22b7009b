"""What the services read from the environment: every setting, its default, and its check, in one place.

A bad value stops the service at start-up with one line naming the variable and what it accepts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from attrs import frozen

from adapters.http.loopback import is_loopback
from adapters.identity.local import LOCAL_AUDIENCE, LOCAL_ISSUER
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
    Setting(
        "DATABASE_URL",
        "",
        "postgresql://... : keep the service's state in PostgreSQL, in a schema of its own (empty: SQLite in DATA_DIR)",
    ),
    Setting(
        "INSTANCE_ID",
        "",
        "this process's name among the service's instances, in logs and Kafka ids (empty: host name and pid)",
    ),
    Setting("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "the Kafka cluster the services use"),
    Setting("ORDER_PORT", "8001", "Order Service HTTP port (make run)"),
    Setting("PRODUCT_PORT", "8002", "Product Service HTTP port (make run)"),
    Setting("MESSAGE_PORT", "8003", "Message Service HTTP port (make run)"),
    Setting(
        "PRODUCT_SERVICE_URL",
        "http://127.0.0.1:8002",
        "where Order Service asks for availability; several instances: comma-separated, spread over",
    ),
    Setting("PRODUCT_SERVICE_TIMEOUT_S", "2.0", "how long Order Service waits for that answer before a 503"),
    Setting("ORDER_PAYMENT_TIMEOUT_S", "1800", "unpaid orders older than this are cancelled (payment_timeout)"),
    Setting("ORDER_EXPIRY_INTERVAL_S", "30", "how often Order Service looks for such orders"),
    Setting("LOG_LEVEL", "info", "the least severe log lines written: debug, info, warning or error"),
    Setting("SERVICE_HOST", "127.0.0.1", "the address make run binds the services to"),
    Setting(
        "ORDER_MAX_UNPAID_ORDERS", "3", "how many unpaid orders one customer may have at once (then 429)"
    ),
    Setting(
        "ORDER_MAX_UNPAID_UNITS", "50", "how many units one customer's unpaid orders may hold in all (then 429)"
    ),
    # Who may call: bearer tokens (SECURITY.md). The defaults are the one-machine setup: a local HS256 key.
    Setting("AUTH_ISSUER", LOCAL_ISSUER, "the `iss` every token must have"),
    Setting("AUTH_AUDIENCE", LOCAL_AUDIENCE, "the `aud` every token must include"),
    Setting("AUTH_LEEWAY_S", "30", "clock skew allowed on a token's exp, nbf and iat, in seconds"),
    Setting("AUTH_ROLES_CLAIM", "roles", "the claim holding the roles (a name, or a dotted path)"),
    Setting("AUTH_JWKS_URL", "", "an identity provider's JWKS URL (then no local key)"),
    Setting("AUTH_KEY_FILES", "", "PEM public keys or JWKS files, comma-separated (then no local key)"),
    Setting(
        "AUTH_LOCAL_KEY_FILE",
        "",
        "the local HS256 keys, made on first start when no provider is set (empty: DATA_DIR/local-keys.json)",
    ),
    Setting("DEMO_SIGN_IN", "off", "on: the demo page's one-click sign-in (loopback only; make run sets it)"),
    # Retention (adapters/sqlite/retention.py says why each window is what it is).
    Setting("OUTBOX_SENT_RETENTION_S", "300", "how long an outbox row is kept once sent, in seconds"),
    Setting(
        "INBOX_RETENTION_S", "604800", "how long a consumed message's id is kept (at least the topics' retention)"
    ),
    Setting("IDEMPOTENCY_KEY_TTL_S", "86400", "how long an Idempotency-Key replays its answer, in seconds"),
    Setting("PRUNE_INTERVAL_S", "60", "how often each service deletes what it kept long enough"),
    # adapters/messaging/relay.py says what the window buys, BENCHMARKS.md what it measured.
    Setting(
        "OUTBOX_GROUP_COMMIT_MS",
        "10",
        "the outbox relay starts at most one Kafka transaction per this many ms (0: one per wake-up)",
    ),
)

LOCAL_KEY_FILE_NAME = "local-keys.json"


@frozen
class Settings:
    data_dir: Path
    database_url: str | None
    instance_id: str
    kafka_bootstrap_servers: str
    order_port: int
    product_port: int
    message_port: int
    product_service_url: tuple[str, ...]  # each Product Service instance's base URL
    product_service_timeout_s: float
    order_payment_timeout_s: float
    order_expiry_interval_s: float
    log_level: str
    service_host: str
    order_max_unpaid_orders: int
    order_max_unpaid_units: int
    auth_issuer: str
    auth_audience: str
    auth_leeway_s: float
    auth_roles_claim: str
    auth_jwks_url: str | None
    auth_key_files: tuple[Path, ...]
    auth_local_key_file: Path
    demo_sign_in: bool
    outbox_sent_retention_s: float
    inbox_retention_s: float
    idempotency_key_ttl_s: float
    prune_interval_s: float
    outbox_group_commit_ms: float

    @property
    def external_identity_provider(self) -> bool:
        """Whether tokens come from a provider's keys (AUTH_JWKS_URL, AUTH_KEY_FILES) rather than the local key."""
        return self.auth_jwks_url is not None or bool(self.auth_key_files)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        def read(name: str, parse: Callable[[str], T], rule: str) -> T:
            default = next(s.default for s in SETTINGS if s.name == name)
            raw = environ.get(name, "").strip() or default
            try:
                return parse(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not {rule}") from None

        data_dir = read("DATA_DIR", lambda raw: Path(raw).resolve(), "a folder path")
        local_key_file = read("AUTH_LOCAL_KEY_FILE", _optional_path, "a file path")
        return cls(
            data_dir=data_dir,
            database_url=read("DATABASE_URL", _optional_postgres_url, "a postgresql:// URL, or empty for SQLite"),
            instance_id=read("INSTANCE_ID", _instance_id, "letters, digits, '.', '_' or '-' (at most 64)"),
            kafka_bootstrap_servers=read("KAFKA_BOOTSTRAP_SERVERS", _host_ports, "host:port[,host:port...]"),
            order_port=read("ORDER_PORT", _port, "a port number (1-65535)"),
            product_port=read("PRODUCT_PORT", _port, "a port number (1-65535)"),
            message_port=read("MESSAGE_PORT", _port, "a port number (1-65535)"),
            product_service_url=read(
                "PRODUCT_SERVICE_URL", _http_urls, "an http:// or https:// URL, or several, comma-separated"
            ),
            product_service_timeout_s=read("PRODUCT_SERVICE_TIMEOUT_S", _positive, "a positive number of seconds"),
            order_payment_timeout_s=read("ORDER_PAYMENT_TIMEOUT_S", _positive, "a positive number of seconds"),
            order_expiry_interval_s=read("ORDER_EXPIRY_INTERVAL_S", _positive, "a positive number of seconds"),
            log_level=read("LOG_LEVEL", _log_level, f"one of {', '.join(LEVELS)}"),
            service_host=read("SERVICE_HOST", _host, "an IP address or host name"),
            order_max_unpaid_orders=read("ORDER_MAX_UNPAID_ORDERS", _at_least_one, "an integer of at least 1"),
            order_max_unpaid_units=read("ORDER_MAX_UNPAID_UNITS", _at_least_one, "an integer of at least 1"),
            auth_issuer=read("AUTH_ISSUER", _text, "a non-empty string"),
            auth_audience=read("AUTH_AUDIENCE", _text, "a non-empty string"),
            auth_leeway_s=read("AUTH_LEEWAY_S", _leeway, "a number of seconds from 0 to 300"),
            auth_roles_claim=read("AUTH_ROLES_CLAIM", _text, "a claim name or dotted path"),
            auth_jwks_url=read("AUTH_JWKS_URL", _optional_http_url, "an http:// or https:// URL"),
            auth_key_files=read("AUTH_KEY_FILES", _paths, "comma-separated file paths"),
            auth_local_key_file=local_key_file or data_dir / LOCAL_KEY_FILE_NAME,
            demo_sign_in=read("DEMO_SIGN_IN", _on_off, "on or off"),
            outbox_sent_retention_s=read("OUTBOX_SENT_RETENTION_S", _not_negative, "a number of seconds, 0 or more"),
            inbox_retention_s=read("INBOX_RETENTION_S", _positive, "a positive number of seconds"),
            idempotency_key_ttl_s=read("IDEMPOTENCY_KEY_TTL_S", _positive, "a positive number of seconds"),
            prune_interval_s=read("PRUNE_INTERVAL_S", _positive, "a positive number of seconds"),
            outbox_group_commit_ms=read("OUTBOX_GROUP_COMMIT_MS", _group_commit_window, "a number of ms, 0 to 1000"),
        )._checked()

    def _checked(self) -> Settings:
        """The settings, if they make sense together; else the `SettingsError` that says why not."""
        if self.auth_jwks_url is not None and self.auth_key_files:
            raise SettingsError("set AUTH_JWKS_URL or AUTH_KEY_FILES, not both")
        if self.external_identity_provider and self.auth_issuer == LOCAL_ISSUER:
            raise SettingsError(
                f"AUTH_ISSUER is still the local default {LOCAL_ISSUER!r}: set it to your identity provider's "
                "issuer (the `iss` of its tokens), and AUTH_AUDIENCE to this API's audience"
            )
        if self.demo_sign_in and self.external_identity_provider:
            raise SettingsError("DEMO_SIGN_IN=on needs the local key: it cannot sign an identity provider's tokens")
        if self.demo_sign_in and not is_loopback(self.service_host):
            raise SettingsError(
                f"DEMO_SIGN_IN=on with SERVICE_HOST={self.service_host!r}: the demo sign-in hands out tokens to "
                "whoever asks, so it is switched on only for services bound to a loopback address (127.0.0.1)"
            )
        return self


def _group_commit_window(raw: str) -> float:
    # Past a second the window is no longer a batching delay but an outage of propagation.
    window = _not_negative(raw)
    if window > 1000:
        raise ValueError(raw)
    return window


def _text(raw: str) -> str:
    return raw


def _host(raw: str) -> str:
    if any(char.isspace() for char in raw):
        raise ValueError(raw)
    return raw


def _at_least_one(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _leeway(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 300:
        raise ValueError(raw)
    return value


def _optional_http_url(raw: str) -> str | None:
    return _http_url(raw) if raw else None


def _optional_path(raw: str) -> Path | None:
    return Path(raw).resolve() if raw else None


def _paths(raw: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()).resolve() for part in raw.split(",") if part.strip())


def _on_off(raw: str) -> bool:
    if raw.lower() not in ("on", "off"):
        raise ValueError(raw)
    return raw.lower() == "on"


def _log_level(raw: str) -> str:
    if raw.lower() not in LEVELS:
        raise ValueError(raw)
    return raw.lower()


def _port(raw: str) -> int:
    port = int(raw)
    if not 1 <= port <= 65535:
        raise ValueError(raw)
    return port


def _not_negative(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError(raw)
    return value


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(raw)
    return raw.rstrip("/")


def _http_urls(raw: str) -> tuple[str, ...]:
    urls = tuple(_http_url(part.strip()) for part in raw.split(","))
    if len(set(urls)) != len(urls):
        raise ValueError(raw)  # one instance named twice would get twice its share
    return urls


def _optional_postgres_url(raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError(raw)
    return raw


def _instance_id(raw: str) -> str:
    if not raw:
        # Unique among the processes of one host, and among hosts: two instances never share the Kafka
        # transactional ids made from it. Set it to keep one across restarts (docs/deploying.md).
        return f"{socket.gethostname()}-{os.getpid()}"
    if len(raw) > 64 or not all(char.isalnum() or char in "._-" for char in raw) or not raw.isascii():
        raise ValueError(raw)
    return raw


def _host_ports(raw: str) -> str:
    for address in raw.split(","):
        host, _, port = address.strip().rpartition(":")
        if not host:
            raise ValueError(raw)
        _port(port)
    return raw
