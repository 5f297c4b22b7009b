"""Bearer tokens: which are accepted, who they name, what roles they grant, and where the keys come from.

Every token here is checked at the fixed time NOW (the verifier's clock is injected; nothing sleeps), by keys
generated once for this module.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.warnings import InsecureKeyLengthWarning

from adapters.identity.keys import JwksUrl, KeyFileError, StaticKeys, VerificationKey, load_key_file
from adapters.identity.verifier import TokenRefused, TokenRules, TokenVerifier
from ordering_core.customers import UNIDENTIFIED_CUSTOMER, Caller, Role

from .examples import run

NOW = 1_800_000_000
ISSUER = "https://id.example/realms/shop"
AUDIENCE = "ordering"
RULES = TokenRules(ISSUER, AUDIENCE)  # leeway 30 s
JWKS_URL = "https://id.example/realms/shop/protocol/openid-connect/certs"
SECRET = bytes(range(32))
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NEW_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
HS = VerificationKey("hs-1", "HS256", SECRET)
RS = VerificationKey("rs-1", "RS256", RSA_KEY.public_key())
NEW_RS = VerificationKey("rs-2", "RS256", NEW_RSA_KEY.public_key())
ES = VerificationKey("es-1", "ES256", EC_KEY.public_key())
DROP = object()  # a claim value meaning "leave this claim out"


def claims(**overrides: object) -> dict[str, Any]:
    """A token's claims, valid at NOW for RULES, with `overrides` (DROP leaves a claim out)."""
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "customer-a", "iat": NOW, "nbf": NOW}
    base |= {"exp": NOW + 300, **overrides}
    return {name: value for name, value in base.items() if value is not DROP}


def signed(
    payload: dict[str, Any], *, key: Any = RSA_KEY, algorithm: str = "RS256", kid: str | None = "rs-1"
) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def verify(token: str, *keys: VerificationKey, rules: TokenRules = RULES, now: float = NOW) -> Caller:
    verifier = TokenVerifier(StaticKeys(keys or (RS,)), rules, clock=lambda: now)
    return run(verifier.verify(token))


def refusal(token: str, *keys: VerificationKey, rules: TokenRules = RULES, now: float = NOW) -> str:
    with pytest.raises(TokenRefused) as refused:
        verify(token, *keys, rules=rules, now=now)
    return refused.value.reason


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: object) -> str:
    return base64url(json.dumps(value).encode())


def hs256_signed_with(secret: bytes, payload: dict[str, Any], *, kid: str | None) -> str:
    # By hand: PyJWT itself refuses a PEM key as an HMAC secret when signing, which is the attack's point.
    header = {"alg": "HS256", "typ": "JWT"} | ({"kid": kid} if kid else {})
    signing_input = f"{segment(header)}.{segment(payload)}"
    return f"{signing_input}.{base64url(hmac.digest(secret, signing_input.encode(), hashlib.sha256))}"


def jwk(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK a provider would publish for the key."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        return public | {"kid": kid, "alg": "RS256", "use": "sig"}
    return ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True) | {"kid": kid, "use": "sig"}


def pem(key: Any) -> bytes:
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Provider:
    """An identity provider's JWKS endpoint: what it serves now (`keys`, or a broken `answer`), and how
    often it was asked (`requests`)."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.answer: httpx.Response | Exception | None = None
        self.requests = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        await asyncio.sleep(0)  # a real fetch lets other tasks run while it waits
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:  # a fresh copy: a response is read once
            return httpx.Response(self.answer.status_code, content=self.answer.content)
        return httpx.Response(200, json={"keys": self.keys})

    def run(self, scenario: Callable[[TokenVerifier, Clock], Awaitable[Any]]) -> Any:
        """Runs `scenario` with a verifier whose keys come from this provider, at NOW, on one event loop."""

        async def main() -> Any:
            clock = Clock()
            async with httpx.AsyncClient(transport=httpx.MockTransport(self.handle)) as client:
                # Nothing remembered: these scenarios are about when the key source fetches, token by token.
                source = JwksUrl(JWKS_URL, client, clock=clock)
                verifier = TokenVerifier(source, RULES, clock=lambda: NOW, remember=0)
                return await scenario(verifier, clock)

        return run(main())


class TestAcceptedTokens:
    def test_an_rs256_token_names_its_subject_as_the_caller(self) -> None:
        caller = verify(signed(claims(sub="auth0|5f7c8ec7")))

        assert caller == Caller("auth0|5f7c8ec7", frozenset())

    def test_an_es256_token_is_accepted(self) -> None:
        token = signed(claims(), key=EC_KEY, algorithm="ES256", kid="es-1")

        assert verify(token, ES, RS).customer_id == "customer-a"

    def test_an_hs256_token_is_accepted_with_its_secret(self) -> None:
        token = signed(claims(), key=SECRET, algorithm="HS256", kid="hs-1")

        assert verify(token, HS).customer_id == "customer-a"

    def test_an_audience_list_is_accepted_when_it_contains_ours(self) -> None:
        token = signed(claims(aud=["account", AUDIENCE]))

        assert verify(token).customer_id == "customer-a"


class TestTimes:
    def test_refuses_an_expired_token(self) -> None:
        reason = refusal(signed(claims(exp=NOW - 31)))

        assert "expired 31 s ago" in reason

    def test_refuses_a_token_not_yet_valid(self) -> None:
        reason = refusal(signed(claims(nbf=NOW + 31)))

        assert "not valid for another 31 s" in reason

    def test_refuses_a_token_issued_in_the_future(self) -> None:
        reason = refusal(signed(claims(iat=NOW + 31)))

        assert "issued 31 s in the future" in reason

    @pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
    def test_a_clock_skew_within_the_leeway_is_forgiven(self, claim: str) -> None:
        skewed = NOW - 29 if claim == "exp" else NOW + 29
        token = signed(claims(**{claim: skewed}))

        assert verify(token).customer_id == "customer-a"

    def test_nbf_and_iat_are_optional(self) -> None:
        token = signed(claims(nbf=DROP, iat=DROP))

        assert verify(token).customer_id == "customer-a"

    def test_no_leeway_means_a_token_expires_at_its_exp(self) -> None:
        token = signed(claims(exp=NOW))

        reason = refusal(token, rules=TokenRules(ISSUER, AUDIENCE, leeway_s=0))

        assert "expired 0 s ago" in reason

    def test_refuses_a_token_without_exp(self) -> None:
        reason = refusal(signed(claims(exp=DROP)))

        assert reason == "it has no 'exp' claim"

    @pytest.mark.parametrize("value", ["tomorrow", True, [NOW]], ids=repr)
    def test_refuses_a_time_that_is_not_a_number(self, value: object) -> None:
        reason = refusal(signed(claims(nbf=value)))

        assert reason == "its 'nbf' claim is not a number of seconds"

    def test_judges_times_by_the_injected_clock_not_the_wall_clock(self) -> None:
        long_ago = 1_000_000_000
        token = signed(claims(iat=long_ago, nbf=long_ago, exp=long_ago + 60))

        assert verify(token, now=long_ago + 1).customer_id == "customer-a"
        assert "expired" in refusal(token, now=long_ago + 91)


class TestIssuerAndAudience:
    def test_refuses_a_token_from_another_issuer(self) -> None:
        reason = refusal(signed(claims(iss="https://evil.example")))

        assert reason.startswith("wrong issuer")

    def test_refuses_a_token_meant_for_another_audience(self) -> None:
        reason = refusal(signed(claims(aud="billing")))

        assert reason.startswith("wrong audience")

    def test_refuses_an_audience_list_without_ours(self) -> None:
        reason = refusal(signed(claims(aud=["account", "billing"])))

        assert reason.startswith("wrong audience")

    @pytest.mark.parametrize("claim", ["iss", "aud"])
    def test_refuses_a_token_without_issuer_or_audience(self, claim: str) -> None:
        reason = refusal(signed(claims(**{claim: DROP})))

        assert reason == f"it has no {claim!r} claim"


class TestSignatures:
    def test_refuses_a_tampered_signature(self) -> None:
        header, payload, signature = signed(claims()).split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

        reason = refusal(f"{header}.{payload}.{flipped}")

        assert reason.startswith("the signature matches none")

    def test_refuses_a_payload_changed_after_signing(self) -> None:
        header, _payload, signature = signed(claims()).split(".")
        forged = segment(claims(roles=["admin"]))

        reason = refusal(f"{header}.{forged}.{signature}")

        assert reason.startswith("the signature matches none")

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
    def test_refuses_an_unsigned_token(self, alg: str) -> None:
        token = f"{segment({'alg': alg, 'kid': 'rs-1'})}.{segment(claims())}."

        reason = refusal(token)

        assert reason.startswith(f"algorithm {alg!r} is not accepted")

    def test_refuses_an_hs256_token_whose_secret_is_the_rs256_public_key(self) -> None:
        public_pem = RSA_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        forged_with_kid = hs256_signed_with(public_pem, claims(), kid="rs-1")
        forged_without_kid = hs256_signed_with(public_pem, claims(), kid=None)

        assert refusal(forged_with_kid) == "no HS256 key has key id 'rs-1'"
        assert refusal(forged_without_kid) == "no HS256 key is known"

    def test_refuses_an_algorithm_outside_the_three_even_with_the_right_secret(self) -> None:
        with pytest.warns(InsecureKeyLengthWarning):  # PyJWT's, signing: SHA-512 wants a longer secret
            token = signed(claims(), key=SECRET, algorithm="HS512", kid="hs-1")

        reason = refusal(token, HS)

        assert reason.startswith("algorithm 'HS512' is not accepted")

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "not a token",
            "a.b",
            "a.b.c.d",
            "!!!.e30.",
            f"{segment([1, 2])}.{segment({})}.",
            f"{segment({'alg': 'RS256', 'kid': 7})}.{segment({})}.c2ln",
            f"{base64url(b'{not json')}.{segment({})}.c2ln",
            "x" * 20_000,
        ],
        ids=[
            "empty",
            "words",
            "two parts",
            "four parts",
            "not base64url",
            "header not an object",
            "kid not a string",
            "header not json",
            "huge",
        ],
    )
    def test_refuses_a_malformed_token(self, token: str) -> None:
        reason = refusal(token)

        assert reason.startswith("malformed:")

    def test_refuses_a_signed_payload_that_is_not_json(self) -> None:
        token = jwt.PyJWS().encode(b"not json", RSA_KEY, algorithm="RS256", headers={"kid": "rs-1"})

        reason = refusal(token)

        assert reason.startswith("malformed:")


class TestSubject:
    def test_refuses_a_token_without_a_subject(self) -> None:
        reason = refusal(signed(claims(sub=DROP)))

        assert reason == "it has no 'sub' claim"

    @pytest.mark.parametrize("subject", ["two words", "", "é", "x" * 256], ids=repr)
    def test_refuses_a_subject_that_is_not_a_customer_id(self, subject: str) -> None:
        reason = refusal(signed(claims(sub=subject)))

        assert reason.startswith("its subject is not a customer id")

    def test_refuses_a_subject_that_is_not_a_string(self) -> None:
        reason = refusal(signed(claims(sub=42)))

        assert "Subject must be a string" in reason

    def test_refuses_the_placeholder_of_orders_without_owners(self) -> None:
        reason = refusal(signed(claims(sub=UNIDENTIFIED_CUSTOMER)))

        assert reason.startswith(f"its subject is {UNIDENTIFIED_CUSTOMER!r}")


class TestKeyIds:
    def test_refuses_a_token_naming_an_unknown_key(self) -> None:
        token = signed(claims(), kid="rs-9")

        reason = refusal(token, RS)

        assert reason == "unknown key id 'rs-9', even after asking for the keys again"

    def test_old_and_new_keys_both_verify_during_a_rotation(self) -> None:
        old = signed(claims(sub="old"), key=RSA_KEY, kid="rs-1")
        new = signed(claims(sub="new"), key=NEW_RSA_KEY, kid="rs-2")

        callers = [verify(token, NEW_RS, RS) for token in (old, new)]

        assert [caller.customer_id for caller in callers] == ["old", "new"]

    def test_a_token_without_a_kid_is_tried_with_every_key_of_its_algorithm(self) -> None:
        token = signed(claims(), key=NEW_RSA_KEY, kid=None)

        assert verify(token, RS, HS, NEW_RS).customer_id == "customer-a"

    def test_a_key_is_used_only_with_its_own_kid(self) -> None:
        token = signed(claims(), key=NEW_RSA_KEY, kid="rs-1")

        reason = refusal(token, RS, NEW_RS)

        assert reason.startswith("the signature matches none of the 1 RS256 key(s)")


class TestRoles:
    def test_reads_a_list_under_roles(self) -> None:
        token = signed(claims(roles=["admin", "payments"]))

        assert verify(token).roles == {Role.ADMIN, Role.PAYMENTS}

    def test_reads_keycloak_realm_roles_by_a_dotted_path(self) -> None:
        token = signed(claims(realm_access={"roles": ["offline_access", "payments"]}))

        caller = verify(token, rules=TokenRules(ISSUER, AUDIENCE, roles_claim="realm_access.roles"))

        assert caller.roles == {Role.PAYMENTS}

    def test_reads_a_namespaced_url_claim_as_one_name(self) -> None:
        token = signed(claims(**{"https://shop.example/roles": ["admin"]}))

        caller = verify(token, rules=TokenRules(ISSUER, AUDIENCE, roles_claim="https://shop.example/roles"))

        assert caller.roles == {Role.ADMIN}

    def test_the_whole_name_wins_over_a_dotted_path(self) -> None:
        token = signed(claims(**{"realm_access.roles": ["admin"]}, realm_access={"roles": ["payments"]}))

        caller = verify(token, rules=TokenRules(ISSUER, AUDIENCE, roles_claim="realm_access.roles"))

        assert caller.roles == {Role.ADMIN}

    def test_reads_a_space_separated_string(self) -> None:
        token = signed(claims(roles="payments  admin"))

        assert verify(token).roles == {Role.ADMIN, Role.PAYMENTS}

    def test_ignores_role_names_it_does_not_know(self) -> None:
        token = signed(claims(roles=["Admin", "superuser", "payments"]))

        assert verify(token).roles == {Role.PAYMENTS}

    @pytest.mark.parametrize("extra", [{}, {"realm_access": "admin"}, {"realm_access": {}}], ids=repr)
    def test_no_claim_means_no_roles(self, extra: dict[str, Any]) -> None:
        token = signed(claims(**extra))

        caller = verify(token, rules=TokenRules(ISSUER, AUDIENCE, roles_claim="realm_access.roles"))

        assert caller.roles == frozenset()

    @pytest.mark.parametrize("value", [{"admin": True}, ["admin", 1], None, 7], ids=repr)
    def test_refuses_a_roles_claim_of_another_shape(self, value: object) -> None:
        reason = refusal(signed(claims(roles=value)))

        assert reason == "its 'roles' claim is neither a list of role names nor a string of them"


class TestJwksUrl:
    def test_fetches_once_for_many_verifications(self) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> None:
            for _ in range(5):
                await verifier.verify(signed(claims()))
            await asyncio.gather(*(verifier.verify(signed(claims())) for _ in range(5)))

        provider.run(scenario)

        assert provider.requests == 1

    def test_concurrent_first_verifications_share_one_fetch(self) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> list[Caller]:
            return await asyncio.gather(*(verifier.verify(signed(claims())) for _ in range(10)))

        callers = provider.run(scenario)

        assert provider.requests == 1
        assert len(callers) == 10

    def test_a_rotated_key_is_fetched_when_a_token_names_it(self) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> Caller:
            await verifier.verify(signed(claims()))
            provider.keys = [jwk(NEW_RSA_KEY, "rs-2"), jwk(RSA_KEY, "rs-1")]
            clock.now += 31
            return await verifier.verify(signed(claims(sub="new"), key=NEW_RSA_KEY, kid="rs-2"))

        caller = provider.run(scenario)

        assert caller.customer_id == "new"
        assert provider.requests == 2

    def test_unknown_key_ids_fetch_no_more_often_than_the_minimum_interval(self) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> list[int]:
            seen = []
            for step in (0, 31, 40, 60, 62):
                clock.now = step
                with pytest.raises(TokenRefused, match="unknown key id 'made-up'"):
                    await verifier.verify(signed(claims(), kid="made-up"))
                seen.append(provider.requests)
            return seen

        requests = provider.run(scenario)

        assert requests == [1, 2, 2, 2, 3]

    def test_fetches_again_when_the_copy_is_older_than_the_maximum_age(self) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> list[int]:
            seen = []
            for step in (0, 299, 300, 301):
                clock.now = step
                await verifier.verify(signed(claims()))
                seen.append(provider.requests)
            return seen

        assert provider.run(scenario) == [1, 1, 2, 2]

    def test_refuses_a_jwks_that_publishes_a_secret(self) -> None:
        secret = {"kty": "oct", "kid": "hs-1", "k": base64url(SECRET)}
        provider = Provider(jwk(RSA_KEY, "rs-1"), secret)

        async def scenario(verifier: TokenVerifier, clock: Clock) -> str:
            with pytest.raises(TokenRefused) as refused:
                await verifier.verify(signed(claims()))
            return refused.value.reason

        reason = provider.run(scenario)

        assert reason.startswith(f"could not fetch the JWKS at {JWKS_URL}: key 'hs-1' is a secret")

    def test_a_failed_fetch_keeps_the_keys_it_had_and_refuses_only_what_they_cannot_check(self) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> tuple[Caller, str]:
            await verifier.verify(signed(claims()))
            provider.answer = httpx.Response(503)
            clock.now = 301
            still_known = await verifier.verify(signed(claims()))
            clock.now = 340
            with pytest.raises(TokenRefused) as refused:
                await verifier.verify(signed(claims(), key=NEW_RSA_KEY, kid="rs-2"))
            return still_known, refused.value.reason

        still_known, reason = provider.run(scenario)

        assert still_known.customer_id == "customer-a"
        assert reason == f"could not fetch the JWKS at {JWKS_URL}: it answered 503"
        assert provider.requests == 3

    @pytest.mark.parametrize(
        ("answer", "why"),
        [
            (httpx.Response(500), "it answered 500"),
            (httpx.Response(200, text="<html>"), "the answer is not JSON"),
            (httpx.Response(200, json={"keys": []}), "no signing key for HS256, RS256, ES256"),
            (httpx.Response(200, json=[]), "not a JWKS"),
            (httpx.ConnectError("refused"), "ConnectError: refused"),
        ],
        ids=["500", "html", "no keys", "a list", "unreachable"],
    )
    def test_with_no_keys_yet_a_failed_fetch_refuses_saying_why(
        self, answer: httpx.Response | Exception, why: str
    ) -> None:
        provider = Provider(jwk(RSA_KEY, "rs-1"))
        provider.answer = answer

        async def scenario(verifier: TokenVerifier, clock: Clock) -> str:
            with pytest.raises(TokenRefused) as refused:
                await verifier.verify(signed(claims()))
            return refused.value.reason

        reason = provider.run(scenario)

        assert reason.startswith(f"could not fetch the JWKS at {JWKS_URL}: {why}")

    def test_leaves_out_encryption_keys_and_other_algorithms(self) -> None:
        encryption = jwk(NEW_RSA_KEY, "enc-1") | {"use": "enc", "alg": "RSA-OAEP"}
        provider = Provider(encryption, jwk(NEW_RSA_KEY, "ps-1") | {"alg": "PS256"}, jwk(EC_KEY, "es-1"))

        async def scenario(verifier: TokenVerifier, clock: Clock) -> str:
            caller = await verifier.verify(signed(claims(), key=EC_KEY, algorithm="ES256", kid="es-1"))
            return caller.customer_id

        assert provider.run(scenario) == "customer-a"

    def test_refuses_a_url_that_is_not_http(self) -> None:
        with pytest.raises(ValueError, match="must be http"):
            JwksUrl("file:///etc/jwks.json", httpx.AsyncClient())


class TestKeyFiles:
    def test_a_pem_rsa_public_key_is_an_rs256_key_named_after_the_file(self, tmp_path: Path) -> None:
        path = write(tmp_path / "kc-2026.pem", pem(RSA_KEY.public_key()))

        assert load_key_file(path) == [VerificationKey("kc-2026", "RS256", RSA_KEY.public_key())]

    def test_a_pem_p256_public_key_is_an_es256_key(self, tmp_path: Path) -> None:
        path = write(tmp_path / "es.pem", pem(EC_KEY.public_key()))

        assert load_key_file(path) == [VerificationKey("es", "ES256", EC_KEY.public_key())]

    def test_a_jwks_file_gives_its_signing_keys(self, tmp_path: Path) -> None:
        encryption = jwk(NEW_RSA_KEY, "enc-1") | {"use": "enc"}
        path = write(tmp_path / "jwks.json", json.dumps({"keys": [jwk(RSA_KEY, "rs-1"), encryption]}))

        assert load_key_file(path) == [RS]

    def test_a_private_jwk_in_a_jwks_file_gives_its_public_half(self, tmp_path: Path) -> None:
        private = RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True) | {"kid": "rs-1"}
        path = write(tmp_path / "jwks.json", json.dumps({"keys": [private]}))

        assert load_key_file(path) == [RS]

    def test_a_jwks_file_holds_secrets_only_if_no_one_else_may_read_it(self, tmp_path: Path) -> None:
        secrets = {"keys": [{"kty": "oct", "kid": "hs-1", "k": base64url(SECRET)}]}
        private = write(tmp_path / "private.json", json.dumps(secrets))
        private.chmod(0o600)
        shared = write(tmp_path / "shared.json", json.dumps(secrets))
        shared.chmod(0o644)

        keys = load_key_file(private)

        assert keys == [HS]
        with pytest.raises(KeyFileError, match="others may read: chmod 600"):
            load_key_file(shared)

    @pytest.mark.parametrize(
        ("content", "why"),
        [
            (b"garbage", "neither a PEM public key nor JSON"),
            (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM public key"),
            (pem(RSA_KEY), "a private key"),
            (pem(ec.generate_private_key(ec.SECP384R1()).public_key()), "on the P-256 curve"),
            (pem(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()), "2048 bits"),
            (
                json.dumps({"keys": [{"kty": "RSA", "kid": "x", "n": "AQAB"}]}).encode(),
                "not a usable RS256 key",
            ),
            (json.dumps({"keys": [jwk(RSA_KEY, "rs-1") | {"kid": 7}]}).encode(), "kid that is not a string"),
            (json.dumps({"keys": ["rs-1"]}).encode(), "key 0 is not a JSON object"),
            (pem(ed25519.Ed25519PrivateKey.generate().public_key()), "not an RSA or EC P-256 public key"),
        ],
        ids=[
            "garbage",
            "bad pem",
            "private",
            "p-384",
            "rsa-1024",
            "broken jwk",
            "int kid",
            "str key",
            "ed25519",
        ],
    )
    def test_a_key_file_that_cannot_be_used_is_refused_naming_the_file(
        self, tmp_path: Path, content: bytes, why: str
    ) -> None:
        path = write(tmp_path / "key.pem", content)

        with pytest.raises(KeyFileError) as refused:
            load_key_file(path)

        assert str(refused.value).startswith(f"key file {path}: ")
        assert why in refused.value.reason

    def test_a_missing_key_file_is_refused_naming_the_file(self, tmp_path: Path) -> None:
        with pytest.raises(KeyFileError, match="cannot read it") as refused:
            load_key_file(tmp_path / "nowhere.pem")

        assert refused.value.path == tmp_path / "nowhere.pem"


class TestVerificationKey:
    @pytest.mark.parametrize(
        ("algorithm", "key", "why"),
        [
            ("HS512", SECRET, "must be in"),
            ("none", b"", "must be in"),
            ("HS256", b"short", "at least 32 bytes"),
            ("HS256", "a str", "at least 32 bytes"),
            ("RS256", EC_KEY.public_key(), "RSA public key"),
            ("RS256", RSA_KEY, "RSA public key"),
            ("ES256", RSA_KEY.public_key(), "P-256"),
        ],
        ids=["hs512", "none", "short secret", "str secret", "ec as rsa", "private rsa", "rsa as ec"],
    )
    def test_a_key_must_be_what_its_one_algorithm_needs(self, algorithm: str, key: object, why: str) -> None:
        with pytest.raises(ValueError, match=why):
            VerificationKey("k", algorithm, key)

    def test_a_secret_never_shows_in_the_repr(self) -> None:
        assert SECRET.hex() not in repr(HS) and repr(SECRET) not in repr(HS)


class CountingKeys:
    """StaticKeys that count how often the verifier asked for them: once per full check."""

    def __init__(self, *keys: VerificationKey) -> None:
        self._keys = StaticKeys(keys)
        self.asked = 0

    async def keys(self) -> Sequence[VerificationKey]:
        self.asked += 1
        return await self._keys.keys()

    async def refresh(self) -> Sequence[VerificationKey]:
        return await self._keys.refresh()


class TestRememberedTokens:
    def test_a_token_that_passed_is_taken_again_without_a_second_check(self) -> None:
        keys, now = CountingKeys(RS), [NOW]
        verifier = TokenVerifier(keys, RULES, clock=lambda: now[0])
        token = signed(claims())

        first, again = run(verifier.verify(token)), run(verifier.verify(token))

        assert first == again == Caller("customer-a")
        assert keys.asked == 1

    def test_a_remembered_token_is_refused_once_it_expires_as_a_check_would(self) -> None:
        keys, now = CountingKeys(RS), [NOW]
        verifier = TokenVerifier(keys, RULES, clock=lambda: now[0], remember_for_s=3600)
        token = signed(claims(exp=NOW + 10))
        run(verifier.verify(token))
        now[0] = NOW + 10 + RULES.leeway_s - 1
        run(verifier.verify(token))  # within the leeway: still good, from memory

        now[0] = NOW + 10 + RULES.leeway_s

        with pytest.raises(TokenRefused, match="expired"):
            run(verifier.verify(token))
        assert keys.asked == 2  # the expired one was checked again, and refused

    def test_a_token_is_checked_again_after_remember_for_s(self) -> None:
        keys, now = CountingKeys(RS), [NOW]
        verifier = TokenVerifier(keys, RULES, clock=lambda: now[0], remember_for_s=60)
        token = signed(claims(exp=NOW + 3600))
        run(verifier.verify(token))

        now[0] = NOW + 60
        run(verifier.verify(token))

        assert keys.asked == 2

    def test_a_refused_token_is_not_remembered(self) -> None:
        keys = CountingKeys(RS)
        verifier = TokenVerifier(keys, RULES, clock=lambda: NOW)
        token = signed(claims(aud="another-api"))

        for _ in range(2):
            with pytest.raises(TokenRefused):
                run(verifier.verify(token))

        assert keys.asked == 2

    def test_at_most_remember_tokens_are_kept_the_oldest_forgotten_first(self) -> None:
        keys = CountingKeys(RS)
        verifier = TokenVerifier(keys, RULES, clock=lambda: NOW, remember=2)
        first, second, third = (signed(claims(sub=f"customer-{n}")) for n in (1, 2, 3))
        for token in (first, second, third):
            run(verifier.verify(token))

        run(verifier.verify(third))
        run(verifier.verify(first))

        assert keys.asked == 4  # the third from memory; the first forgotten, so checked again
