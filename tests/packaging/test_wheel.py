"""The wheel people install: what it holds, the domain library alone, and the services wherever they run.

The wheel is built by pip (`pip wheel`, the front-end `pip install .` uses) from a copy of what the Dockerfile
copies into its image, and installed into new virtual environments, away from this checkout:
- the core alone (no extras): `ordering_core` imports and applies its rules with attrs as its only
  dependency, and none of the services' dependencies is installed;
- with the `services` extra, installed as the Dockerfile's RUN line does: each composition root's app answers
  GET /openapi.yaml with the repository's openapi.yaml, byte for byte, run from a folder outside any source
  tree and with no PYTHONPATH (the installed wheel), and again as the image runs it (PYTHONPATH=/app/src).

pip fetches from the package index, or takes from its cache: 20 s here with the cache warm, 40 s the first time.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
SPEC = (REPO / "openapi.yaml").read_bytes()
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
DOCKERFILE = [
    line.strip()
    for line in (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
SERVICES_DEPENDENCIES = ["cattrs", "confluent_kafka", "httpx", "jwt", "prometheus_client", "starlette", "uvicorn"]

# Run inside the core's environment: the rules work, and which distributions are there.
USE_THE_CORE = """
import importlib.metadata, importlib.util, json
from decimal import Decimal
from ordering_core import Line, Product, availability_of, reserve

shelf = {"pen": Product("pen", "Pen", Decimal("2.50"), stock=3)}
availability = availability_of([Line("pen", 2), Line("ink", 1)], shelf)
reserved = reserve(None, "o-1", [Line("pen", 2)], {"pen": 3})
print(json.dumps({
    "served": [line.product_id for line in availability.order_lines],
    "refused": [line.product_id for line in availability.failures],
    "ledger": str(reserved.entry.state),
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "importable": [name for name in %r if importlib.util.find_spec(name) is not None],
}))
"""

# Run inside the services' environment: each composition root's app, asked through httpx's ASGI transport (no
# server, no lifespan: nothing connects to Kafka).
ASK_THE_SERVICES = """
import asyncio, json, sys
import entrypoints, httpx
from entrypoints import message_service, order_service, product_service
from entrypoints.settings import Settings

settings = Settings.from_environment({"DATA_DIR": sys.argv[1]})

async def ask(service):
    app = service.create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        spec, health = await client.get("/openapi.yaml"), await client.get("/healthz")
    return {"status": spec.status_code, "type": spec.headers["content-type"], "spec": spec.text,
            "health": health.json()}

answers = {s.GROUP: asyncio.run(ask(s)) for s in (order_service, product_service, message_service)}
print(json.dumps({"from": entrypoints.__file__, "answers": answers}))
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def image_layout(workdir: Path) -> Path:
    """What the Dockerfile's COPY lines put in its WORKDIR (/app), copied here the same way."""
    app = workdir / "app"
    for instruction in DOCKERFILE:
        if instruction.startswith("COPY "):
            *sources, destination = instruction.split()[1:]
            for source in sources:
                copy(REPO / source, app / destination)
    return app


@pytest.fixture(scope="module")
def wheel(workdir: Path, image_layout: Path) -> Path:
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", workdir / "dist", image_layout)
    (built,) = (workdir / "dist").glob("ordering-*.whl")
    return built


@pytest.fixture(scope="module")
def core_env(workdir: Path, wheel: Path) -> Path:
    """A new environment with the wheel and nothing else it did not ask for (no pip either)."""
    python = new_venv(workdir / "core")
    pip_into(python, wheel)
    return python


@pytest.fixture(scope="module")
def services_env(workdir: Path, image_layout: Path) -> Path:
    """A new environment where the image's layout was installed as the Dockerfile's RUN line installs it."""
    python = new_venv(workdir / "services")
    pip_into(python, *dockerfile_pip_install_arguments(), cwd=image_layout)
    return python


class TestTheWheel:
    def test_holds_the_three_packages_typed_and_the_spec_and_page_they_serve(self, wheel: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            packaged_spec = archive.read("adapters/http/openapi.yaml")

        assert {"ordering_core/py.typed", "adapters/py.typed", "entrypoints/py.typed"} <= names
        assert {"adapters/http/page/index.html", "adapters/http/openapi.yaml"} <= names
        assert packaged_spec == SPEC
        assert {name.split("/")[0] for name in names} == {
            "ordering_core",
            "adapters",
            "entrypoints",
            f"ordering-{VERSION}.dist-info",
        }

    def test_requires_only_attrs_unless_the_services_extra_is_asked_for(self, wheel: Path) -> None:
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(f"ordering-{VERSION}.dist-info/METADATA").decode()
        requires = [
            Requirement(line.split(": ", 1)[1]) for line in metadata.splitlines() if line.startswith("Requires-Dist:")
        ]

        always = [r.name for r in requires if r.marker is None]
        with_services = {r.name for r in requires if r.marker is not None and r.marker.evaluate({"extra": "services"})}
        assert always == ["attrs"]
        assert {"cattrs", "confluent-kafka", "starlette", "uvicorn"} <= with_services


class TestTheCoreAlone:
    def test_places_its_rules_with_attrs_as_its_only_dependency(self, core_env: Path, workdir: Path) -> None:
        found = json.loads(run(core_env, "-c", USE_THE_CORE % SERVICES_DEPENDENCIES, cwd=elsewhere(workdir)))

        assert (found["served"], found["refused"], found["ledger"]) == (["pen"], ["ink"], "reserved")
        assert found["distributions"] == ["attrs", "ordering"]
        assert found["importable"] == []


class TestTheServices:
    def test_serve_the_spec_from_the_installed_wheel_outside_any_source_tree(
        self, services_env: Path, workdir: Path
    ) -> None:
        found = json.loads(run(services_env, "-c", ASK_THE_SERVICES, workdir / "data", cwd=elsewhere(workdir)))

        assert Path(found["from"]).is_relative_to(services_env.parents[1])  # the venv's site-packages
        assert_each_serves_the_spec_and_its_version(found["answers"])

    def test_serve_the_spec_as_the_docker_image_runs_them(
        self, services_env: Path, image_layout: Path, workdir: Path
    ) -> None:
        (pythonpath,) = [
            value
            for instruction in DOCKERFILE
            if instruction.startswith("ENV ")
            for name, _, value in (setting.partition("=") for setting in shlex.split(instruction)[1:])
            if name == "PYTHONPATH"
        ]
        here = pythonpath.replace("/app", str(image_layout))

        found = json.loads(
            run(services_env, "-c", ASK_THE_SERVICES, workdir / "image-data", cwd=image_layout, pythonpath=here)
        )

        assert Path(found["from"]).is_relative_to(image_layout / "src")  # the code the image copied
        assert_each_serves_the_spec_and_its_version(found["answers"])

    def test_give_the_ordering_command_its_version(self, services_env: Path, workdir: Path) -> None:
        printed = run(services_env.parent / "ordering", "--version", cwd=elsewhere(workdir))

        assert printed == f"ordering {VERSION}\n"


def assert_each_serves_the_spec_and_its_version(answers: dict[str, dict[str, object]]) -> None:
    assert set(answers) == {"order-service", "product-service", "message-service"}
    for answer in answers.values():
        assert (answer["status"], answer["type"]) == (200, "application/yaml")
        assert answer["spec"] == SPEC.decode()
        assert answer["health"] == {"status": "ok", "version": VERSION}


def dockerfile_pip_install_arguments() -> list[str]:
    """What the Dockerfile's RUN line gives `pip install`, up to the next command."""
    (words,) = [shlex.split(i)[1:] for i in DOCKERFILE if i.startswith("RUN ") and "pip install" in i]
    start = words.index("install") + 1
    end = words.index("&&", start) if "&&" in words[start:] else len(words)
    return words[start:end]


def copy(source: Path, destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    if source.is_dir():
        shutil.copytree(source, destination, ignore=ignore)
    else:
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination / source.name)


def new_venv(folder: Path) -> Path:
    """A new virtual environment without pip (ours installs into it) from the interpreter running the tests."""
    run(sys.executable, "-m", "venv", "--without-pip", folder)
    return folder / "bin" / "python"


def pip_into(python: Path, *requirements: str | Path, cwd: Path | None = None) -> None:
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", *requirements, cwd=cwd)


def elsewhere(workdir: Path) -> Path:
    """A folder with no source tree in it or above it."""
    folder = workdir / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def run(program: str | Path, *arguments: str | Path, cwd: Path | None = None, pythonpath: str | None = None) -> str:
    """Run a program with this environment less what points Python at this checkout; what it printed."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"} and not name.startswith(("COV_CORE_", "COVERAGE_"))
    }
    if pythonpath is not None:
        environment["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [str(program), *map(str, arguments)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{program} {arguments} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout
