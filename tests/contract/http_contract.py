"""openapi.yaml as a test oracle: is this HTTP response one the spec declares, and does its body match?

`OpenApi.check(response)` finds the operation from the request (method + path matched against the path
templates, literal segments winning, as the router does), then requires the status code to be declared,
the media type to be declared for it, every required header to be present and valid, and the body to
validate against the declared schema (JSON Schema 2020-12, `$ref`s resolved in the document, `date-time`
checked). A request to no declared operation (an unknown path, a wrong method) must answer a problem.

`ContractClient` is Starlette's TestClient checking every response it gets, so no test can forget to.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette 1.x warns on importing its TestClient unless the `httpx2` fork is installed; this project
    # pins httpx (pyproject.toml), which the TestClient still fully supports.
    warnings.filterwarnings(
        "ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning
    )
    from starlette.testclient import TestClient

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC_URI = "urn:ordering:openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

_formats = FormatChecker()


@_formats.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    # RFC 3339 needs the offset; fromisoformat alone would accept a naive "2026-01-01T00:00:00".
    return not isinstance(value, str) or datetime.fromisoformat(value).utcoffset() is not None


class OpenApi:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._templates = sorted(document["paths"], key=lambda t: (t.count("{"), t))

    @classmethod
    @cache
    def load(cls) -> OpenApi:
        return cls(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))

    def template_for(self, path: str) -> str | None:
        """The declared path template that serves `path`; literal templates before parameterised ones."""
        for template in self._templates:
            if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), path):
                return template
        return None

    def declared_responses(self) -> list[tuple[str, str, str]]:
        """(METHOD, path template, status) for every response the spec declares."""
        return [
            (method.upper(), template, status)
            for template, item in self.document["paths"].items()
            for method in METHODS
            if method in item
            for status in item[method]["responses"]
        ]

    def check(self, response: httpx.Response) -> None:
        request = response.request
        template = self.template_for(request.url.path)
        operation = self.document["paths"].get(template, {}).get(request.method.lower())
        if operation is None:
            self._check_undeclared(response, template)
            return
        where = f"{request.method} {template}"
        status = str(response.status_code)
        declared = operation["responses"]
        assert status in declared, (
            f"{where} answered {status}, which it does not declare: {response.text[:300]}"
        )
        pointer, answer = self._resolve(
            f"/paths/{_escape(template)}/{request.method.lower()}/responses/{status}"
        )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        content = answer.get("content", {})
        assert media_type in content, f"{where} {status} is {media_type!r}; declared: {sorted(content)}"
        for name in answer.get("headers", {}):
            header_pointer, header = self._resolve(f"{pointer}/headers/{_escape(name)}")
            if header.get("required"):
                assert name in response.headers, f"{where} {status} lacks the required header {name}"
            if name in response.headers:
                self._validate(response.headers[name], f"{header_pointer}/schema", f"{where} header {name}")
        self._validate(_body(response, media_type), f"{pointer}/content/{_escape(media_type)}/schema", where)

    def _check_undeclared(self, response: httpx.Response, template: str | None) -> None:
        assert response.status_code in (404, 405), f"an undeclared operation answered {response.status_code}"
        assert response.headers["content-type"] == "application/problem+json"
        self._validate(response.json(), "/components/schemas/Problem", "an undeclared operation")
        if response.status_code == 405:
            # The path is served, so the spec declares it, and `Allow` names exactly its methods (RFC 9110).
            assert template is not None, f"405 on {response.request.url.path}, a path the spec lacks"
            declared = {method.upper() for method in METHODS if method in self.document["paths"][template]}
            declared |= {"HEAD"} if "GET" in declared else set()
            allowed = set(response.headers.get("allow", "").split(", ")) - {""}
            assert allowed == declared, f"405 on {template}: Allow {sorted(allowed)}, declared {sorted(declared)}"
            schema = "/components/responses/MethodNotAllowed/content/application~1problem+json/schema"
            self._validate(response.json(), schema, "a 405")

    def _validate(self, instance: Any, pointer: str, where: str) -> None:
        validator = Draft202012Validator(
            {"$ref": f"{SPEC_URI}#{pointer}"}, registry=self._registry, format_checker=_formats
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        messages = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]
        assert not messages, f"{where}: does not match the spec:\n  " + "\n  ".join(messages)

    def _resolve(self, pointer: str) -> tuple[str, dict[str, Any]]:
        """Follow `$ref`s from the object at `pointer`; the pointer and object reached."""
        node = self._at(pointer)
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self._at(pointer)
        return pointer, node

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


@cache
def _yaml(text: str) -> Any:
    # The one YAML body is openapi.yaml itself, answered to every GET /openapi.yaml case: parsed once, by
    # libyaml (PyYAML's own parser took 0.5 s a time, most of the fuzzing's time for that operation).
    return yaml.load(text, Loader=yaml.CSafeLoader)


def _body(response: httpx.Response, media_type: str) -> Any:
    if media_type.endswith("json"):
        return json.loads(response.content)
    if media_type == "application/yaml":  # the spec's schema is of the data, as schemathesis reads it too
        return _yaml(response.text)
    return response.text


class ContractClient(TestClient):
    """A TestClient whose every response is checked against openapi.yaml before the test sees it."""

    def __init__(self, app: Any, spec: OpenApi, *, headers: dict[str, str] | None = None, **options: Any) -> None:
        # Server errors become responses (500 problem) instead of exceptions, as a real client sees them.
        super().__init__(app, raise_server_exceptions=False, headers=headers, **options)
        self.spec = spec

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        self.spec.check(response)
        return response
