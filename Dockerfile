# syntax=docker/dockerfile:1.7
# authtrail's Python services — transformer (consume), sink-watch, query API (serve) and the
# deploy steps — in one image; `authtrail` is the entrypoint. Target `cli` adds the dev tools
# and the tests, for `docker compose run cli specs`.

FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/authtrail
COPY pyproject.toml README.md ./
COPY authtrail ./authtrail
COPY connect ./connect
COPY query_service ./query_service
COPY scripts ./scripts
# The runtime dependencies exactly as pyproject.toml declares them: the same set the README's
# `make` installs (which adds only the dev and bench extras on top).
RUN /opt/authtrail/bin/pip install . \
 && /opt/authtrail/bin/pip uninstall --yes pip setuptools

FROM python:3.11.11-slim-bookworm AS service
RUN useradd --system --create-home --uid 10001 authtrail \
 && mkdir -p /app/log /app/state \
 && chown authtrail /app/log /app/state
COPY --from=build /opt/authtrail /opt/authtrail
COPY schemas /app/schemas
ENV PATH=/opt/authtrail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AUTHTRAIL_SCHEMAS_DIR=/app/schemas \
    AUTHTRAIL_LOG_DIR=/app/log \
    AUTHTRAIL_STACK_DIR=/app/state
WORKDIR /app
USER 10001
ENTRYPOINT ["authtrail"]
CMD ["--help"]

FROM python:3.11.11-slim-bookworm AS cli
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
RUN useradd --system --create-home --uid 10001 authtrail
WORKDIR /app
COPY --chown=authtrail . /app
RUN python -m venv /opt/authtrail \
 && /opt/authtrail/bin/pip install --editable ".[dev]"
ENV PATH=/opt/authtrail/bin:$PATH
USER 10001
ENTRYPOINT ["authtrail"]
CMD ["--help"]
