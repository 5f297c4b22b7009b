"""Micro-benchmarks of verifying a bearer token: what every authenticated request pays before its use case.

As in test_core_hot_paths.py: `make test` runs each once, untimed, as a test of the Caller it returns;
`make bench` times them and prints each as a multiple of the `json.dumps` baseline timed in the same run.
The keys are `StaticKeys`, which never wait, so the coroutine is driven by hand (`completed`): an event loop
per call would be most of what is timed. A JWKS URL adds nothing per token once its keys are cached.
`test_verifying_a_bearer_token` times the full check (the verifier remembers nothing); the last one times a
token the verifier checked before and remembers, which is what the services pay for a caller's next request.
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.identity.keys import StaticKeys, VerificationKey
from adapters.identity.local import LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer, LocalKeyFile
from adapters.identity.verifier import TokenRules, TokenVerifier
from ordering_core.customers import Caller, Role

T = TypeVar("T")
NOW = 1_800_000_000
RULES = TokenRules(LOCAL_ISSUER, LOCAL_AUDIENCE)
CLAIMS = {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "sub": "customer-a", "iat": NOW, "exp": NOW + 3600}


def completed(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the coroutine waited for something; with StaticKeys nothing should")


def hs256_local_token(folder: Path) -> tuple[TokenVerifier, str]:
    key_file = LocalKeyFile(folder / "local-keys.json")
    token = LocalIssuer(key_file).token("customer-a", roles=[Role.ADMIN], now=NOW)
    return TokenVerifier(StaticKeys(key_file.ensure()), RULES, clock=lambda: NOW, remember=0), token


def provider_token(algorithm: str) -> tuple[TokenVerifier, str]:
    if algorithm == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    key = VerificationKey("provider-1", algorithm, private.public_key())
    token = jwt.encode(CLAIMS | {"roles": ["admin"]}, private, algorithm=algorithm, headers={"kid": key.kid})
    return TokenVerifier(StaticKeys([key]), RULES, clock=lambda: NOW, remember=0), token


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "ES256"])
def test_verifying_a_bearer_token(benchmark: Any, tmp_path: Path, algorithm: str) -> None:
    verifier, token = hs256_local_token(tmp_path) if algorithm == "HS256" else provider_token(algorithm)

    caller = benchmark(lambda: completed(verifier.verify(token)))

    assert caller == Caller("customer-a", frozenset({Role.ADMIN}))


def test_a_remembered_bearer_token(benchmark: Any, tmp_path: Path) -> None:
    key_file = LocalKeyFile(tmp_path / "local-keys.json")
    token = LocalIssuer(key_file).token("customer-a", now=NOW)
    verifier = TokenVerifier(StaticKeys(key_file.ensure()), RULES, clock=lambda: NOW)
    completed(verifier.verify(token))  # checked once

    caller = benchmark(lambda: completed(verifier.verify(token)))

    assert caller == Caller("customer-a")
