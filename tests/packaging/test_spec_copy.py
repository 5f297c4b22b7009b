"""The OpenAPI document the package carries is the repository's, byte for byte.

People edit openapi.yaml at the repository root, where the docs and the contract tests read it; the services
serve the copy in src/adapters/http (package data: pyproject.toml says why a copy). This keeps the two one.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

from adapters.http.probes import openapi_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "openapi.yaml"
PACKAGED = REPO / "src" / "adapters" / "http" / "openapi.yaml"


def test_the_packaged_spec_is_the_repository_s():
    assert filecmp.cmp(SPEC, PACKAGED, shallow=False), (
        "src/adapters/http/openapi.yaml differs from openapi.yaml; after editing the root one: "
        "cp openapi.yaml src/adapters/http/openapi.yaml"
    )


def test_the_services_read_the_packaged_spec():
    assert openapi_spec() == PACKAGED.read_bytes()
