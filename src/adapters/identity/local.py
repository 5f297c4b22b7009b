"""The local signing key and the tokens signed with it: for the one-command demo only.

In production an identity provider issues the tokens and the services only verify them (keys.py). For
`make run` there is no provider: a JWKS file of HS256 secrets, made on first use, stands in for one.

    {"keys": [{"kty": "oct", "kid": "local-3f9a1c2e", "alg": "HS256", "k": "<43 base64url characters>"}]}

The first key signs. To rotate, put a new key first and keep the old ones after it until their tokens have
expired: the services load every key, so tokens of each still verify (`StaticKeys(LocalKeyFile(p).ensure())`).
The file holds secrets, so it is made with mode 0600 and refused if anyone else may read it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import jwt

from adapters.identity.keys import VerificationKey
from ordering_core.customers import UNIDENTIFIED_CUSTOMER, Role
from ordering_core.errors import InvalidValue
from ordering_core.values import require_customer_id

LOCAL_ISSUER = "ordering-local"  # the default iss and aud of the one-command setup
LOCAL_AUDIENCE = "ordering"
SECRET_BYTES = 32  # 256 bits: as long as HS256's hash (RFC 7518 §3.2)


class LocalKeyError(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"local key file {path}: {reason}")
        self.path = path
        self.reason = reason


class LocalKeyFile:
    """A JWKS file of HS256 secrets ("kty": "oct", each with a "kid"), made on first use, mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self) -> list[VerificationKey]:
        """The file's keys, after making the file with one fresh secret if there is none yet."""
        try:
            return self._read()
        except FileNotFoundError:
            self._create()
        return self._read()

    def signing_key(self) -> VerificationKey:
        """The first key of the file (read on each call, so a rotation needs no restart to sign)."""
        return self.ensure()[0]

    def _create(self) -> None:
        # Written in full under a temporary name, then linked to the real one: nobody ever reads half a file,
        # and of two processes starting at once exactly one link succeeds. mkstemp makes the file 0600.
        jwks = {"keys": [_jwk(f"local-{secrets.token_hex(4)}", secrets.token_bytes(SECRET_BYTES))]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        except OSError as error:
            raise LocalKeyError(self.path, f"cannot create it ({error})") from error
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(jwks, file, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, self.path)
        except FileExistsError:
            pass  # another process made it first: theirs is the one read next
        except OSError as error:
            raise LocalKeyError(self.path, f"cannot create it ({error})") from error
        finally:
            os.unlink(temporary)

    def _read(self) -> list[VerificationKey]:
        try:
            with open(self.path, "rb") as file:
                # The mode of the file opened, not of whatever the name points to a moment later.
                mode = os.fstat(file.fileno()).st_mode
                data = file.read()
        except FileNotFoundError:
            raise  # ensure() makes it
        except OSError as error:
            raise LocalKeyError(self.path, f"cannot read it ({error.strerror or error})") from error
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise LocalKeyError(self.path, f"others may read it (mode {stat.S_IMODE(mode):o}): chmod 600 it")
        try:
            return _keys(json.loads(data))
        except ValueError as error:
            raise LocalKeyError(self.path, f"not a JWKS of HS256 secrets with kids: {error}") from error


class LocalIssuer:
    """Signs tokens as the demo's identity provider would: HS256 with the key file's first key."""

    def __init__(
        self, key_file: LocalKeyFile, *, issuer: str = LOCAL_ISSUER, audience: str = LOCAL_AUDIENCE
    ) -> None:
        self._key_file = key_file
        self._issuer = issuer
        self._audience = audience

    def token(
        self, customer_id: str, *, roles: Iterable[Role] = (), ttl_s: float = 3600, now: float | None = None
    ) -> str:
        require_customer_id("customer_id", customer_id)
        if customer_id == UNIDENTIFIED_CUSTOMER:
            raise InvalidValue("customer_id", "is reserved for orders without owners", customer_id)
        issued = int(time.time() if now is None else now)
        key = self._key_file.signing_key()
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": customer_id,
            "iat": issued,
            "nbf": issued,
            "exp": int(issued + ttl_s),
            # Always "roles", whatever claim the services are told to read: this issuer is ours.
            "roles": sorted({Role(role).value for role in roles}),
        }
        return jwt.encode(claims, key.key, algorithm="HS256", headers={"kid": key.kid})


def _jwk(kid: str, secret: bytes) -> dict[str, str]:
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")
    return {"kty": "oct", "kid": kid, "alg": "HS256", "use": "sig", "k": k}


def _keys(document: object) -> list[VerificationKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise ValueError('no non-empty "keys" list')
    keys = [_key(jwk) for jwk in document["keys"]]
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise ValueError("two keys share a kid")
    return keys


def _key(jwk: object) -> VerificationKey:
    if not isinstance(jwk, dict) or jwk.get("kty") != "oct" or jwk.get("alg", "HS256") != "HS256":
        raise ValueError('every key must be {"kty": "oct"} for HS256')
    kid, k = jwk.get("kid"), jwk.get("k")
    if not isinstance(kid, str) or not kid or not isinstance(k, str):
        raise ValueError('every key needs a "kid" and a "k"')
    try:
        secret = base64.urlsafe_b64decode(k + "=" * (-len(k) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"the k of key {kid!r} is not base64url") from error
    return VerificationKey(kid, "HS256", secret)  # ValueError for a secret under 32 bytes
