"""Who a bearer token says the caller is, once its key, signature, issuer, audience and times check out.

The services verify tokens that an identity provider issued; they never issue them (local.py signs tokens
for the one-command demo only). `TokenVerifier.verify` checks, in this order:

    form        three base64url parts; the header, read unverified, only for `kid` and `alg`
    algorithm   HS256, RS256 or ES256; `none` and anything else are refused before any key is looked at
    key         those with the header's kid (none has it: the source is asked once more, for the provider
                may have rotated its keys), or every key when there is no kid; of those, the keys bound to
                the header's algorithm, each tried with its own algorithm as the only one allowed
    claims      exp, iss, aud and sub required; iss equal to ours, aud equal to or containing ours (PyJWT)
    times       exp, and nbf and iat when present, against the injected clock with `leeway_s` each way
                (PyJWT reads the wall clock itself, so its time checks are off and done here)
    subject     a customer id (`require_customer_id`), and not the reserved UNIDENTIFIED_CUSTOMER
    roles       from `roles_claim` (see `_roles`)

Any failure raises `TokenRefused`. Its `reason` is for the log only: told to the caller, it would say
which check to work on. With `StaticKeys` nothing here waits on I/O; with `JwksUrl` a fetch is awaited.

A token that passed is remembered, so the next request with it costs a dictionary lookup instead of a
signature check (62 us for HS256, 90 us for RS256: 5% of the Order Service's CPU under load, BENCHMARKS.md).
It is remembered until it expires (exp plus the leeway, exactly when a check would refuse it) and for at
most `remember_for_s`: a key the provider withdraws from its JWKS stops vouching for the tokens it signed
that long after, at the latest. At most `remember` tokens, the oldest forgotten first; a refused token is
never remembered.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import jwt
from attrs import frozen
from jwt.types import Options

from adapters.identity.keys import ALGORITHMS, KeySource, KeysUnavailable, VerificationKey
from ordering_core.customers import UNIDENTIFIED_CUSTOMER, Caller, Role
from ordering_core.errors import InvalidValue
from ordering_core.values import require_customer_id

# Providers' tokens are 1-2 KB; a header holding a megabyte of "token" is not worth decoding.
MAX_TOKEN_LENGTH = 16_384
# header.payload.signature, each base64url (padding allowed: some issuers send it). An empty signature
# passes this check only so that an unsigned token is refused by its `alg: none`, which says more in a log.
_FORM = re.compile(r"[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]+={0,2}\.(?:[A-Za-z0-9_-]+={0,2})?")
_ROLES = {role.value: role for role in Role}
# Time claims are checked below against our clock; the rest is PyJWT's. A key below the minimum size was
# refused when it was loaded (keys.py); here such a key would be refused rather than warned about per token.
_DECODE_OPTIONS: Options = {
    "require": ["exp", "iss", "aud", "sub"],
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "enforce_minimum_key_length": True,
}


class TokenRefused(Exception):
    """The bearer token is not accepted. `reason` is for the log only (never sent to the caller)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@frozen
class TokenRules:
    issuer: str = attrs.field(validator=attrs.validators.min_len(1))
    audience: str = attrs.field(validator=attrs.validators.min_len(1))
    leeway_s: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    # A top-level claim ("roles", or Auth0's "https://shop.example/roles"), else a dotted path into nested
    # claims ("realm_access.roles" for Keycloak).
    roles_claim: str = attrs.field(default="roles", validator=attrs.validators.min_len(1))


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        rules: TokenRules,
        *,
        clock: Callable[[], float] = time.time,
        remember: int = 10_000,
        remember_for_s: float = 60.0,
    ) -> None:
        self._keys = keys
        self._rules = rules
        self._clock = clock
        self._remember = remember
        self._remember_for_s = remember_for_s
        # token -> (its caller, until when it may be taken without a check); oldest first.
        self._passed: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    async def verify(self, token: str) -> Caller:
        """The caller the token names, or `TokenRefused` saying (for the log) why not."""
        now = self._clock()
        passed = self._passed.get(token)
        if passed is not None:
            caller, until = passed
            if now < until:
                return caller
            del self._passed[token]
        caller, expires = await self._check(token, now)
        self._keep(token, caller, min(expires + self._rules.leeway_s, now + self._remember_for_s))
        return caller

    async def _check(self, token: str, now: float) -> tuple[Caller, float]:
        """Every check, in the order of the module's docstring: the caller, and when the token expires."""
        header = _header(token)
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise TokenRefused(f"algorithm {algorithm!r} is not accepted (only {', '.join(ALGORITHMS)})")
        keys = [key for key in await self._candidates(kid) if key.algorithm == algorithm]
        if not keys:
            raise TokenRefused(f"no {algorithm} key" + (f" has key id {kid!r}" if kid else " is known"))
        claims = self._decode(token, keys)
        expires = _check_times(claims, now, self._rules.leeway_s)
        return Caller(customer_id=_subject(claims), roles=_roles(claims, self._rules.roles_claim)), expires

    def _keep(self, token: str, caller: Caller, until: float) -> None:
        if self._remember <= 0:
            return
        self._passed[token] = (caller, until)
        while len(self._passed) > self._remember:
            self._passed.popitem(last=False)

    async def _candidates(self, kid: str | None) -> Sequence[VerificationKey]:
        try:
            keys = await self._keys.keys()
            if kid is None:
                return keys
            named = [key for key in keys if key.kid == kid]
            if not named:
                named = [key for key in await self._keys.refresh() if key.kid == kid]
        except KeysUnavailable as error:
            raise TokenRefused(error.reason) from error
        if not named:
            raise TokenRefused(f"unknown key id {kid!r}, even after asking for the keys again")
        return named

    def _decode(self, token: str, keys: Sequence[VerificationKey]) -> dict[str, Any]:
        rules = self._rules
        for key in keys:
            try:
                return jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm],  # the key's own, never the token's
                    issuer=rules.issuer,
                    audience=rules.audience,
                    leeway=rules.leeway_s,
                    options=_DECODE_OPTIONS,
                )
            except (jwt.InvalidSignatureError, jwt.InvalidKeyError):
                continue  # without a kid, any of the keys may be the one
            except jwt.PyJWTError as error:
                raise TokenRefused(_why(error)) from error
        raise TokenRefused(f"the signature matches none of the {len(keys)} {keys[0].algorithm} key(s) tried")


def _header(token: str) -> dict[str, Any]:
    # Read here rather than by jwt.get_unverified_header, which decodes all three parts, checking their
    # alphabet character by character in Python: that doubled PyJWT's cost per token (benchmarks). PyJWT
    # still reads and checks the whole token when it verifies it.
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRefused(f"malformed: not a string of at most {MAX_TOKEN_LENGTH} characters")
    if _FORM.fullmatch(token) is None:
        raise TokenRefused("malformed: not three base64url parts separated by dots")
    encoded = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError as error:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise TokenRefused(f"malformed: the header is not base64url JSON ({error})") from error
    if not isinstance(header, dict):
        raise TokenRefused("malformed: the header is not a JSON object")
    if not isinstance(header.get("kid", ""), str):
        raise TokenRefused("malformed: the header's kid is not a string")
    return header


def _why(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"it has no {error.claim!r} claim"
    if isinstance(error, jwt.InvalidIssuerError):
        return f"wrong issuer ({error})"
    if isinstance(error, jwt.InvalidAudienceError):
        return f"wrong audience ({error})"
    if isinstance(error, jwt.DecodeError):
        return f"malformed: {error}"
    return f"{type(error).__name__}: {error}"


def _check_times(claims: Mapping[str, Any], now: float, leeway_s: float) -> float:
    """When the token expires (`exp`, required), once its times admit it now."""
    expires = _time(claims, "exp")
    if expires is None:  # PyJWT requires the claim; null is no time at all
        raise TokenRefused("its 'exp' claim is not a number of seconds")
    if now >= expires + leeway_s:
        raise TokenRefused(f"expired {now - expires:.0f} s ago (leeway {leeway_s:g} s)")
    not_before = _time(claims, "nbf")
    if not_before is not None and now < not_before - leeway_s:
        raise TokenRefused(f"not valid for another {not_before - now:.0f} s (leeway {leeway_s:g} s)")
    # A token issued in the future comes from a clock (or a forger) we cannot trust about `exp` either.
    issued = _time(claims, "iat")
    if issued is not None and now < issued - leeway_s:
        raise TokenRefused(f"issued {issued - now:.0f} s in the future (leeway {leeway_s:g} s)")
    return expires


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # JSON booleans are ints to Python, and Python's json reads Infinity and NaN.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TokenRefused(f"its {name!r} claim is not a number of seconds")
    return float(value)


def _subject(claims: Mapping[str, Any]) -> str:
    subject = claims["sub"]
    try:
        require_customer_id("sub", subject)
    except InvalidValue as error:
        raise TokenRefused(f"its subject is not a customer id: {error}") from error
    if subject == UNIDENTIFIED_CUSTOMER:
        raise TokenRefused(f"its subject is {UNIDENTIFIED_CUSTOMER!r}, reserved for orders without owners")
    return str(subject)


def _roles(claims: Mapping[str, Any], name: str) -> frozenset[Role]:
    """The roles a claim grants: a list of names or one space-separated string (as OAuth's `scope`).

    Names that are not a `Role` are ignored (providers put many roles in a token, most for other
    applications); no claim means no roles. A claim of any other shape refuses the token: quietly reading it
    as "no roles" would hide a misconfigured `roles_claim` until an admin cannot act.
    """
    value = _claim(claims, name)
    if value is _MISSING:
        return frozenset()
    if isinstance(value, str):
        names: list[str] = value.split()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = value
    else:
        raise TokenRefused(f"its {name!r} claim is neither a list of role names nor a string of them")
    return frozenset(_ROLES[role] for role in names if role in _ROLES)


_MISSING = object()


def _claim(claims: Mapping[str, Any], name: str) -> object:
    # The whole name first: a namespaced claim ("https://shop.example/roles") has dots but no nesting.
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value
