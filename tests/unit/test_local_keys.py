"""The one-command demo's signing key: a private file made once, shared by every process, rotated by hand;
and the tokens `LocalIssuer` signs with it, which the services verify like any provider's."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import jwt
import pytest

from adapters.identity.keys import StaticKeys, VerificationKey
from adapters.identity.local import LOCAL_AUDIENCE, LOCAL_ISSUER, LocalIssuer, LocalKeyError, LocalKeyFile
from adapters.identity.verifier import TokenRefused, TokenRules, TokenVerifier
from ordering_core import InvalidValue
from ordering_core.customers import UNIDENTIFIED_CUSTOMER, Caller, Role

from .examples import run

NOW = 1_800_000_000
SRC = Path(__file__).resolve().parents[2] / "src"


def oct_key(kid: str, secret: bytes | None = None) -> dict[str, str]:
    k = base64.urlsafe_b64encode(secret or secrets.token_bytes(32)).rstrip(b"=").decode()
    return {"kty": "oct", "kid": kid, "k": k}


def write_private(path: Path, document: object, mode: int = 0o600) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    path.chmod(mode)
    return path


def verify(key_file: LocalKeyFile, token: str, *, now: float = NOW) -> Caller:
    verifier = TokenVerifier(
        StaticKeys(key_file.ensure()), TokenRules(LOCAL_ISSUER, LOCAL_AUDIENCE), clock=lambda: now
    )
    return run(verifier.verify(token))


class TestMakingTheKeyFile:
    def test_makes_the_file_and_its_folders_readable_by_its_owner_only(self, tmp_path: Path) -> None:
        path = tmp_path / "var" / "identity" / "local-keys.json"

        keys = LocalKeyFile(path).ensure()

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [(key.algorithm, len(key.key)) for key in keys] == [("HS256", 32)]
        (jwk,) = json.loads(path.read_text())["keys"]
        assert jwk["kty"] == "oct" and jwk["kid"] == keys[0].kid

    def test_the_next_start_uses_the_same_file(self, tmp_path: Path) -> None:
        path = tmp_path / "local-keys.json"
        first = LocalKeyFile(path).ensure()

        again = LocalKeyFile(path).ensure()

        assert again == first

    def test_leaves_no_temporary_file_behind(self, tmp_path: Path) -> None:
        LocalKeyFile(tmp_path / "local-keys.json").ensure()

        assert [p.name for p in tmp_path.iterdir()] == ["local-keys.json"]

    def test_threads_starting_at_once_end_with_one_file_and_one_key(self, tmp_path: Path) -> None:
        path = tmp_path / "local-keys.json"
        start = threading.Barrier(16)
        found: list[list[VerificationKey]] = []

        def ensure() -> None:
            start.wait()
            found.append(LocalKeyFile(path).ensure())

        threads = [threading.Thread(target=ensure) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(found) == 16 and all(keys == found[0] for keys in found)
        assert [p.name for p in tmp_path.iterdir()] == ["local-keys.json"]

    def test_processes_starting_at_once_end_with_one_file_and_one_key(self, tmp_path: Path) -> None:
        path = tmp_path / "local-keys.json"
        program = (
            "import sys; from pathlib import Path; from adapters.identity.local import LocalKeyFile; "
            "print(LocalKeyFile(Path(sys.argv[1])).ensure()[0].key.hex())"
        )
        environment = {**os.environ, "PYTHONPATH": str(SRC)}

        processes = [
            subprocess.Popen(
                [sys.executable, "-c", program, str(path)], stdout=subprocess.PIPE, env=environment
            )
            for _ in range(4)
        ]
        secrets_seen = {process.communicate(timeout=60)[0] for process in processes}

        assert len(secrets_seen) == 1
        assert secrets_seen == {LocalKeyFile(path).ensure()[0].key.hex().encode() + b"\n"}
        assert [p.name for p in tmp_path.iterdir()] == ["local-keys.json"]

    def test_a_start_that_loses_the_race_reads_the_winner_s_key(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "local-keys.json"
        winner = write_private(tmp_path / "winner.json", {"keys": [oct_key("winner")]})
        link = os.link

        def another_process_links_first(source: Path, destination: Path) -> None:
            link(winner, destination)
            link(source, destination)

        monkeypatch.setattr(os, "link", another_process_links_first)
        keys = LocalKeyFile(path).ensure()

        assert [key.kid for key in keys] == ["winner"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["local-keys.json", "winner.json"]


class TestRefusedKeyFiles:
    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=oct)
    def test_refuses_a_file_others_may_read_or_write(self, tmp_path: Path, mode: int) -> None:
        path = write_private(tmp_path / "local-keys.json", {"keys": [oct_key("k1")]}, mode)

        with pytest.raises(LocalKeyError, match=r"others may read it .* chmod 600 it") as refused:
            LocalKeyFile(path).ensure()

        assert refused.value.path == path

    @pytest.mark.parametrize(
        "document",
        [
            "{ not json",
            [],
            {"keys": []},
            {"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]},
            {"keys": [{"kty": "oct", "k": oct_key("x")["k"]}]},
            {"keys": [oct_key("k1") | {"alg": "HS512"}]},
            {"keys": [oct_key("k1", b"short")]},
            {"keys": [{"kty": "oct", "kid": "k1", "k": "a"}]},
            {"keys": [oct_key("k1"), oct_key("k1")]},
        ],
        ids=[
            "not json",
            "a list",
            "no keys",
            "rsa",
            "no kid",
            "hs512",
            "short secret",
            "bad base64url",
            "same kid twice",
        ],
    )
    def test_refuses_a_corrupt_file_naming_it(self, tmp_path: Path, document: object) -> None:
        path = write_private(tmp_path / "local-keys.json", document)

        with pytest.raises(LocalKeyError) as refused:
            LocalKeyFile(path).ensure()

        assert str(refused.value).startswith(f"local key file {path}: not a JWKS of HS256 secrets with kids")

    def test_does_not_replace_a_corrupt_file(self, tmp_path: Path) -> None:
        path = write_private(tmp_path / "local-keys.json", "{ not json")

        with pytest.raises(LocalKeyError):
            LocalKeyFile(path).ensure()

        assert path.read_text() == "{ not json"


class TestLocalIssuer:
    def test_its_tokens_verify_with_the_key_file(self, tmp_path: Path) -> None:
        key_file = LocalKeyFile(tmp_path / "local-keys.json")

        token = LocalIssuer(key_file).token("customer-a", roles=[Role.ADMIN], now=NOW)

        assert verify(key_file, token) == Caller("customer-a", frozenset({Role.ADMIN}))

    def test_a_token_names_its_key_and_carries_the_documented_claims(self, tmp_path: Path) -> None:
        key_file = LocalKeyFile(tmp_path / "local-keys.json")

        token = LocalIssuer(key_file).token(
            "customer-a", roles=[Role.PAYMENTS, Role.ADMIN], ttl_s=60, now=NOW
        )

        assert jwt.get_unverified_header(token) == {
            "alg": "HS256",
            "typ": "JWT",
            "kid": key_file.signing_key().kid,
        }
        assert unverified_claims(token) == {
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "sub": "customer-a",
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 60,
            "roles": ["admin", "payments"],
        }

    def test_a_token_expires_after_its_time_to_live(self, tmp_path: Path) -> None:
        key_file = LocalKeyFile(tmp_path / "local-keys.json")

        token = LocalIssuer(key_file).token("customer-a", ttl_s=60, now=NOW)

        assert verify(key_file, token, now=NOW + 89).customer_id == "customer-a"  # 30 s of leeway
        with pytest.raises(TokenRefused, match="expired"):
            verify(key_file, token, now=NOW + 90)

    def test_after_a_rotation_the_first_key_signs_and_tokens_of_the_old_one_still_verify(
        self, tmp_path: Path
    ) -> None:
        key_file = LocalKeyFile(tmp_path / "local-keys.json")
        issuer = LocalIssuer(key_file)
        old_token = issuer.token("customer-a", now=NOW)
        old_jwks = json.loads(key_file.path.read_text())
        write_private(key_file.path, {"keys": [oct_key("rotated"), *old_jwks["keys"]]})

        new_token = issuer.token("customer-b", now=NOW)

        assert jwt.get_unverified_header(new_token)["kid"] == "rotated"
        assert [verify(key_file, t).customer_id for t in (old_token, new_token)] == [
            "customer-a",
            "customer-b",
        ]

    @pytest.mark.parametrize("customer_id", [UNIDENTIFIED_CUSTOMER, "two words", ""], ids=repr)
    def test_refuses_to_sign_for_a_subject_the_services_would_refuse(
        self, tmp_path: Path, customer_id: str
    ) -> None:
        issuer = LocalIssuer(LocalKeyFile(tmp_path / "local-keys.json"))

        with pytest.raises(InvalidValue, match="customer_id"):
            issuer.token(customer_id, now=NOW)


def unverified_claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})
