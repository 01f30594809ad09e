"""A real authorization server for the OAuth tests: node's oidc-provider on 127.0.0.1.

`AuthorizationServer` runs `oidc_provider/server.mjs` as a child process with signing keys made
here, so the tests can also sign deliberately bad tokens with the very keys the server
publishes (a wrong audience, an expiry in the past): only the claims then stand between such a
token and a tool call. Restarting it with other keys is a key rotation.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.helpers import free_port

PROJECT = Path(__file__).parent / "oidc_provider"
SCOPE = "images"
CLIENT_SECRET = "client-secret-" + "c3" * 16
RS256_SERVICE = "rs256-service"
ES256_SERVICE = "es256-service"

Key = RSAKey | ECKey


def node_or_skip() -> str:
    """The node binary, installing the npm lock file's packages on first use."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "node is not installed; the OAuth tests run node's oidc-provider (.ci/run installs it)"
        )
    if not (PROJECT / "node_modules" / "oidc-provider").is_dir():
        # Two xdist workers may get here together: one installs, the other waits.
        with (PROJECT / "package-lock.json").open() as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (PROJECT / "node_modules" / "oidc-provider").is_dir():
                npm = shutil.which("npm") or "npm"
                subprocess.run([npm, "ci", "--silent"], cwd=PROJECT, check=True, timeout=300)
    return node


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, {"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


def ec_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", {"kid": kid, "use": "sig", "alg": "ES256"}, private=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class AuthorizationServer:
    """oidc-provider issuing JWT access tokens, on a port it keeps across restarts."""

    workdir: Path
    resource: str
    keys: list[Key] = field(default_factory=lambda: [rsa_key("rsa-1"), ec_key("ec-1")])
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[str] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.workdir / f"authorization-server-{self.port}.json"
        config.write_text(json.dumps(self._config()))
        log = (self.workdir / "authorization-server.log").open("a")
        self._process = subprocess.Popen(
            [node_or_skip(), "server.mjs", str(config)],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # blocks until it listens, or exits
        if not line.startswith("listening"):
            self.stop()
            raise RuntimeError(f"oidc-provider did not start; see {log.name}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def rotate(self, keys: list[Key]) -> None:
        """Restart with another key set: the first key of each type signs from now on."""
        self.stop()
        self.keys = keys
        self.start()

    def _config(self) -> dict[str, Any]:
        service = {
            "client_secret": CLIENT_SECRET,
            "grant_types": ["client_credentials"],
            "redirect_uris": [],
            "response_types": [],
            "scope": SCOPE,
        }
        return {
            "port": self.port,
            "keys": [key.as_dict(private=True) for key in self.keys],
            "resource": self.resource,
            "scope": SCOPE,
            "clients": [
                {**service, "client_id": RS256_SERVICE},
                {**service, "client_id": ES256_SERVICE},
            ],
        }

    # --- Tokens the server itself issues ----------------------------------------------------

    def service_token(self, client_id: str, resource: str | None = None) -> str:
        """An access token from the client_credentials grant (its `sub` is the client id)."""
        response = httpx.post(
            f"{self.issuer}/token",
            auth=(client_id, CLIENT_SECRET),
            data={
                "grant_type": "client_credentials",
                "scope": SCOPE,
                "resource": resource or self.resource,
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def jwks_requests(self) -> int:
        return httpx.get(f"{self.issuer}/_test/jwks-requests", timeout=10).json()["count"]

    # --- Tokens made here, signed with the server's own keys --------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "crafted-user",
            "aud": self.resource,
            "iat": now,
            "exp": now + 300,
            "scope": SCOPE,
            "client_id": "crafted-client",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any], key: Key | None = None) -> str:
        key = key or self.keys[0]
        algorithm = "RS256" if isinstance(key, RSAKey) else "ES256"
        header = {"alg": algorithm, "typ": "at+jwt", "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[algorithm])

    def unsigned(self, claims: dict[str, Any]) -> str:
        """`alg: none`: a token anyone can write."""
        header = b64url(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
        return f"{header}.{b64url(json.dumps(claims).encode())}."

    def hmac_with_public_key(self, claims: dict[str, Any]) -> str:
        """HS256 keyed with the published RSA key: the classic algorithm-confusion forgery."""
        rsa = next(key for key in self.keys if isinstance(key, RSAKey))
        secret = rsa.as_pem(private=False)
        header = {"alg": "HS256", "typ": "at+jwt", "kid": rsa.kid}
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"
