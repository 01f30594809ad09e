# openrouter-image-mcp: the MCP server over streamable HTTP on port 8000 (path /mcp).
#   docker build -t openrouter-image-mcp .
#   docker run --rm -p 127.0.0.1:8000:8000 -e OPENROUTER_API_KEY -e IMAGE_MCP_AUTH_TOKENS openrouter-image-mcp
# No secrets are baked in: the API key and the bearer tokens come from the environment at run time.

# --- builder: a virtualenv with exactly the locked packages --------------------------------
# The base is pinned to an exact Python patch and Debian release; bump it deliberately.
FROM python:3.11.17-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# uv only reads uv.lock here (tests/test_packaging.py keeps this pin equal to the lock's uv).
RUN pip install --no-cache-dir uv==0.13.9 \
    && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from uv.lock, so code changes do not reinstall them. Every file is
# checked against the lock's hash and nothing is resolved: a rebuild of the same commit gets
# the same packages. The `build` group is the build backend, locked the same way; the `otel`
# extra lets OTEL_* variables send traces (README: Tracing), imported only when they do.
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --group build --extra otel --no-emit-project --format requirements.txt \
        --output-file requirements.txt \
    && pip install --no-cache-dir --no-deps --require-hashes -r requirements.txt

COPY README.md LICENSE ./
COPY openrouter_image_mcp ./openrouter_image_mcp
# pip byte-compiles what it installs, so the read-only runtime never needs to write .pyc files.
# No index and no build isolation: the package builds with the locked setuptools, which then
# leaves the runtime environment.
RUN pip install --no-cache-dir --no-deps --no-index --no-build-isolation . \
    && pip uninstall --yes setuptools

# --- runtime: the virtualenv on a clean base, as an unprivileged user ----------------------
FROM python:3.11.17-slim-bookworm

# The name this server has in the MCP registry (server.json), which the registry checks on
# the published image.
LABEL io.modelcontextprotocol.server.name="io.github.openrouter-image-mcp/openrouter-image-mcp" \
      org.opencontainers.image.title="openrouter-image-mcp" \
      org.opencontainers.image.source="https://github.com/openrouter-image-mcp/openrouter-image-mcp" \
      org.opencontainers.image.licenses="MIT"

# /app: an empty, read-only working directory (settings also read an optional .env there).
RUN groupadd --system --gid 10001 mcp \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mcp \
    && mkdir -p /app

COPY --from=builder /opt/venv /opt/venv

# IMAGE_MCP_HOST=0.0.0.0: reachable through published ports, so the server refuses to start
# without IMAGE_MCP_AUTH_TOKENS (or IMAGE_MCP_ALLOW_UNAUTHENTICATED=true behind a gateway).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FASTMCP_CHECK_FOR_UPDATES=off \
    IMAGE_MCP_HOST=0.0.0.0 \
    IMAGE_MCP_PORT=8000

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# The server drains in-flight calls for IMAGE_MCP_SHUTDOWN_GRACE_S (30 s) after SIGTERM;
# give the container at least that long to stop (docker stop -t 35, stop_grace_period in compose).
STOPSIGNAL SIGTERM

# No curl in slim images: Python asks /healthz on loopback, on the port the server listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IMAGE_MCP_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["openrouter-image-mcp"]
