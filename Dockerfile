# One image for the three services (compose.yaml picks the app with `command`) and for the one-shot topic step.
# Validated by tests/contract/test_compose.py; no Docker engine runs on the project's own machines, so
# tests/packaging/test_wheel.py builds this layout (the COPY lines below) and installs it as the RUN line does.
# The services need the `services` extra; the plain `pip install .` is the domain library alone.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app/src:/app/tools \
    DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY tools ./tools
RUN pip install '.[services]' \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ordering \
    && mkdir -p /data /keys && chown ordering /data /keys

USER ordering
# /keys: the local signing keys the three services share (compose.yaml mounts one volume there for all three).
VOLUME ["/data", "/keys"]
# `command` in compose.yaml adds the app and the port, e.g.
#   entrypoints.order_service:create_app_from_environment --port 8001
ENTRYPOINT ["python", "-m", "uvicorn", "--factory", "--host", "0.0.0.0", "--no-access-log"]
