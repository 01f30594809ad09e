"""The TLS settings of every outgoing connection (OpenRouter, image URLs), built once.

Building a client TLS context reads the system's CA certificates (httpx2 trusts the system's
store, as browsers do; `SSL_CERT_FILE` / `SSL_CERT_DIR` override it), about 50 ms of CPU: one
context serves every client of the process instead of one per client.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx2


@cache
def client_tls_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context()
