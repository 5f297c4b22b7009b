"""Verification keys: which key checks a token's signature, with which one algorithm, and where keys come from.

Each key is bound to exactly one algorithm when it is loaded. A token's header only chooses among the keys,
never how a key is used: an RSA public key taken as an HMAC secret would accept anything signed with that
public text (RFC 8725 §2.1, PyJWT's CVE-2022-29217). Three algorithms are accepted: HS256 (the local demo's
shared secrets), RS256 (what Keycloak, Auth0, Entra ID and Okta sign with by default) and ES256.

    StaticKeys     keys loaded once: from key files (`load_key_file`) or the local key file (local.py)
    JwksUrl        an identity provider's JWKS over http(s), cached, fetched again when a token names a key
                   it does not know (the provider rotated its keys) or when the copy is old

A key source that has no keys to give raises `KeysUnavailable`; a key file that cannot be used,
`KeyFileError`; a key that is not what its algorithm needs, `ValueError` (a configuration mistake).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import httpx
from attrs import frozen
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK, PyJWTError

ALGORITHMS = ("HS256", "RS256", "ES256")
# RFC 7518 §3.2: an HS256 secret at least as long as the hash; NIST SP 800-131A: RSA from 2048 bits. PyJWT
# only warns below these; a key is refused when it is loaded instead, not on every token.
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048
# The algorithm of a JWK without "alg", by its key type and curve.
_IMPLIED_ALGORITHM: dict[tuple[object, object], str] = {
    ("RSA", None): "RS256",
    ("EC", "P-256"): "ES256",
    ("oct", None): "HS256",
}


class KeysUnavailable(Exception):
    """A key source has no keys to give (a JWKS that could not be fetched); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Unusable(Exception):
    """A key file or a JWKS that cannot be used; the message says why, to follow "<where>: "."""


class KeyFileError(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"key file {path}: {reason}")
        self.path = path
        self.reason = reason


def _usable_by_algorithm(instance: VerificationKey, _attribute: attrs.Attribute[Any], key: Any) -> None:
    algorithm = instance.algorithm
    if algorithm == "HS256" and not (isinstance(key, bytes) and len(key) >= MIN_SECRET_BYTES):
        problem = f"must be a secret of at least {MIN_SECRET_BYTES} bytes"
    elif algorithm == "RS256" and not (isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS):
        problem = f"must be an RSA public key of at least {MIN_RSA_BITS} bits"
    elif algorithm == "ES256" and not (
        isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    ):
        problem = "must be an EC public key on the P-256 curve"
    else:
        return
    raise ValueError(f"the {algorithm} key {instance.kid!r} {problem}")


@frozen
class VerificationKey:
    kid: str | None
    algorithm: str = attrs.field(validator=attrs.validators.in_(ALGORITHMS))
    # Not in the repr: an HS256 key is a secret, and reprs end up in logs.
    key: Any = attrs.field(validator=_usable_by_algorithm, repr=False)


class KeySource(Protocol):
    async def keys(self) -> Sequence[VerificationKey]:
        """The keys known now."""
        ...

    async def refresh(self) -> Sequence[VerificationKey]:
        """The keys, asked again because a token names a key id that none of them has."""
        ...


class StaticKeys:
    """Keys loaded once: asking again gives the same keys (a new key file takes a restart)."""

    def __init__(self, keys: Sequence[VerificationKey]) -> None:
        self._keys = tuple(keys)

    async def keys(self) -> Sequence[VerificationKey]:
        return self._keys

    async def refresh(self) -> Sequence[VerificationKey]:
        return self._keys


def load_key_file(path: Path) -> list[VerificationKey]:
    """The keys of a PEM public key file or of a JWKS file (`{"keys": [...]}`).

    A PEM key's kid is the file's name stem (`kc-2026.pem` holds key "kc-2026"): identity providers name
    their key in every token, and a key without the same name would never be chosen. A JWKS may hold
    HS256 secrets ("oct" keys) only in a file that no one else may read.
    """
    try:
        with open(path, "rb") as file:
            shared = os.fstat(file.fileno()).st_mode & (stat.S_IRWXG | stat.S_IRWXO)
            data = file.read()
    except OSError as error:
        raise KeyFileError(path, f"cannot read it ({error.strerror or error})") from error
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return [_pem_key(data, kid=path.stem)]
        keys = _keys_from_jwks(_json(data, "neither a PEM public key nor JSON"), symmetric=True)
    except (_Unusable, ValueError) as error:
        raise KeyFileError(path, str(error)) from error
    if shared and any(key.algorithm == "HS256" for key in keys):
        raise KeyFileError(path, "secrets (oct keys) in a file others may read: chmod 600 it")
    return keys


def _keys_from_jwks(document: object, *, symmetric: bool) -> list[VerificationKey]:
    """The signing keys of a JWKS document for our algorithms, or `_Unusable` saying what is wrong.

    Keys for other uses ("use": "enc") or other algorithms (RS384, EdDSA, ...) are left out: providers
    publish them beside their signing keys. With `symmetric=False` an "oct" key refuses the whole document.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _Unusable('not a JWKS (a JSON object with a "keys" list)')
    keys = (_jwk_key(jwk, index, symmetric) for index, jwk in enumerate(document["keys"]))
    found = [key for key in keys if key is not None]
    if not found:
        raise _Unusable(f"no signing key for {', '.join(ALGORITHMS)}")
    return found


def _jwk_key(jwk: object, index: int, symmetric: bool) -> VerificationKey | None:
    if not isinstance(jwk, dict):
        raise _Unusable(f"key {index} is not a JSON object")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _Unusable(f"key {index} has a kid that is not a string")
    if jwk.get("kty") == "oct" and not symmetric:
        raise _Unusable(f"key {kid or index!r} is a secret (an oct key): a secret anyone can fetch is none")
    algorithm = jwk.get("alg") or _IMPLIED_ALGORITHM.get((jwk.get("kty"), jwk.get("crv")))
    if jwk.get("use", "sig") != "sig" or algorithm not in ALGORITHMS:
        return None
    try:
        key = PyJWK(jwk, algorithm).key
    except PyJWTError as error:
        raise _Unusable(f"key {kid or index!r} is not a usable {algorithm} key: {error}") from error
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        key = key.public_key()  # verifying needs only the public half
    return VerificationKey(kid, algorithm, key)


def _pem_key(data: bytes, *, kid: str) -> VerificationKey:
    if b"PRIVATE KEY-----" in data:
        raise _Unusable("a private key: give the services the public key only (they verify, never sign)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise _Unusable(f"not a PEM public key ({error})") from error
    if isinstance(key, rsa.RSAPublicKey):
        return VerificationKey(kid, "RS256", key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return VerificationKey(kid, "ES256", key)
    raise _Unusable(f"a {type(key).__name__}, not an RSA or EC P-256 public key")


def _json(data: bytes, otherwise: str) -> object:
    try:
        return json.loads(data)
    except ValueError as error:
        raise _Unusable(f"{otherwise} ({error})") from error


class JwksUrl:
    """An identity provider's JWKS (its `jwks_uri`), fetched on first use and cached.

    Fetched again when the copy is older than `max_age_s`, or when a token names a key id the copy lacks
    (`refresh`); never more than once per `min_refresh_interval_s`, whatever the reason and whether or not
    the last fetch worked, so tokens with made-up key ids (or a provider that is down) cannot turn every
    request into a fetch. Concurrent callers share one fetch (an asyncio.Lock: the loop is never blocked).

    A failed fetch keeps the keys fetched before, even past `max_age_s` (a provider outage must not log
    everyone out); `KeysUnavailable` is raised only when there is nothing to use: no fetch has worked yet,
    or a refresh for an unknown key id failed.

    The caller makes the `httpx.AsyncClient` (one per process, with explicit timeouts) and closes it;
    `timeout_s`, when given, bounds each fetch instead of the client's own timeout.
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        min_refresh_interval_s: float = 30.0,
        max_age_s: float = 300.0,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"a JWKS URL must be http(s), got {url!r}")
        self.url = url
        self._client = client
        self._min_interval_s = min_refresh_interval_s
        self._max_age_s = max_age_s
        self._timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: tuple[VerificationKey, ...] = ()
        self._fetched_at: float | None = None  # when the keys held were fetched
        self._tried_at: float | None = None  # when the last fetch started, whatever came of it
        self._failure: str | None = None  # why the last fetch failed, if it did

    async def keys(self) -> Sequence[VerificationKey]:
        if self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age_s:
            await self._fetch_unless_recent()
        if self._fetched_at is None:
            raise KeysUnavailable(self._failure or f"no JWKS fetched from {self.url} yet")
        return self._keys

    async def refresh(self) -> Sequence[VerificationKey]:
        await self._fetch_unless_recent()
        if self._failure is not None:
            raise KeysUnavailable(self._failure)
        return self._keys

    async def _fetch_unless_recent(self) -> None:
        async with self._lock:
            # A caller that waited here finds the fetch it wanted already made by the one before it.
            if self._tried_at is not None and self._clock() - self._tried_at < self._min_interval_s:
                return
            self._tried_at = self._clock()
            try:
                self._keys = await self._fetch()
            except KeysUnavailable as error:
                self._failure = error.reason
            else:
                self._fetched_at, self._failure = self._tried_at, None

    async def _fetch(self) -> tuple[VerificationKey, ...]:
        why = f"could not fetch the JWKS at {self.url}"
        try:
            response = await self._client.get(self.url, timeout=self._timeout)
        except httpx.HTTPError as error:
            raise KeysUnavailable(f"{why}: {type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise KeysUnavailable(f"{why}: it answered {response.status_code}")
        try:
            return tuple(_keys_from_jwks(_json(response.content, "the answer is not JSON"), symmetric=False))
        except (_Unusable, ValueError) as error:
            raise KeysUnavailable(f"{why}: {error}") from error
