"""Where a service gets the keys its bearer tokens are checked with: the one decision, for all three.

    AUTH_JWKS_URL     an identity provider's key set (Keycloak, Auth0, Entra ID, Okta ...), fetched and cached
    AUTH_KEY_FILES    PEM public keys or JWKS files on disk
    neither           the local HS256 keys in AUTH_LOCAL_KEY_FILE, made on first start (one command to try it)

SECURITY.md says how to run against a real provider and how keys rotate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from adapters.identity.keys import JwksUrl, KeySource, StaticKeys, load_key_file
from adapters.identity.local import LocalIssuer, LocalKeyFile
from adapters.identity.verifier import TokenRules, TokenVerifier
from entrypoints.settings import Settings

# A provider's JWKS endpoint answers in milliseconds; one that hangs must not hold a request for long.
JWKS_TIMEOUT = httpx.Timeout(5.0)

Closer = Callable[[], Awaitable[None] | None]


def token_verifier(settings: Settings) -> tuple[TokenVerifier, list[Closer]]:
    """The verifier the settings ask for, and what to close at shutdown."""
    closers: list[Closer] = []
    keys: KeySource
    if settings.auth_jwks_url is not None:
        client = httpx.AsyncClient(timeout=JWKS_TIMEOUT)
        closers.append(client.aclose)
        keys = JwksUrl(settings.auth_jwks_url, client)
    elif settings.auth_key_files:
        keys = StaticKeys([key for path in settings.auth_key_files for key in load_key_file(path)])
    else:
        keys = StaticKeys(LocalKeyFile(settings.auth_local_key_file).ensure())
    rules = TokenRules(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_s=settings.auth_leeway_s,
        roles_claim=settings.auth_roles_claim,
    )
    return TokenVerifier(keys, rules), closers


def local_issuer(settings: Settings) -> LocalIssuer:
    """The local key's issuer (`ordering token`, make run, the demo sign-in); only without a provider."""
    if settings.external_identity_provider:
        raise ValueError(
            "the services take tokens from an identity provider (AUTH_JWKS_URL or AUTH_KEY_FILES): get a token "
            "from it; the local key signs tokens only for the one-machine setup"
        )
    return LocalIssuer(
        LocalKeyFile(settings.auth_local_key_file), issuer=settings.auth_issuer, audience=settings.auth_audience
    )
