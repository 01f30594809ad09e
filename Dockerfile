# openrouter-image-mcp: the MCP server over streamable HTTP on port 8000 (path /mcp).
#   docker build -t openrouter-image-mcp .
#   docker run --rm -p 127.0.0.1:8000:8000 -e OPENROUTER_API_KEY -e IMAGE_MCP_AUTH_TOKENS openrouter-image-mcp
# No secrets are baked in: the API key and the bearer tokens come from the environment at run time.

# --- builder: a virtualenv with the package and its dependencies ---------------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, read from pyproject.toml, so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

COPY README.md ./
COPY openrouter_image_mcp ./openrouter_image_mcp
# pip byte-compiles what it installs, so the read-only runtime never needs to write .pyc files.
RUN pip install --no-cache-dir --no-deps .

# --- runtime: the virtualenv on a clean base, as an unprivileged user ----------------------
FROM python:3.11-slim

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
