"""Checking the JWT access tokens one authorization server issues for this server.

FastMCP's JWTVerifier does the work (signature through joserfc against the issuer's JWKS,
`iss`, `aud`, `exp`, `nbf` with 30 s of leeway, a cached key set with a rate-limited refetch for
an unknown `kid`), one instance per allowed algorithm since each checks exactly one. The
token's header picks the instance, so an algorithm outside IMAGE_MCP_OAUTH_ALGORITHMS (`none`,
any HMAC) never reaches a key. On top of it: a token must expire, and the claim named by
IMAGE_MCP_OAUTH_CLIENT_CLAIM becomes the client name (rate limits, budgets, logs, /usage).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.utilities.auth import decode_jwt_header

from .discovery import KeySetLocation

logger = logging.getLogger(__name__)


class AccessTokenVerifier(TokenVerifier):
    """Accepts the issuer's signed, unexpired access tokens minted for `audience`."""

    def __init__(
        self,
        keys: KeySetLocation,
        *,
        audience: str | None,
        algorithms: Sequence[str],
        client_claim: str,
        key_refetch_s: float,
    ) -> None:
        super().__init__()
        self.keys = keys
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.client_claim = client_claim
        self.key_refetch_s = key_refetch_s
        self._by_algorithm: dict[str, JWTVerifier] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        algorithm = self._algorithm_of(token)
        if algorithm is None or self.audience is None:
            return None
        verifier = await self._verifier_for(algorithm)
        access = None if verifier is None else await verifier.verify_token(token)
        return None if access is None else self._identified(access)

    def _algorithm_of(self, token: str) -> str | None:
        try:
            header = decode_jwt_header(token)
        except ValueError:  # not a JWT: base64, UTF-8 and JSON errors are all ValueErrors
            return None
        algorithm = header.get("alg") if isinstance(header, dict) else None
        return algorithm if algorithm in self.algorithms else None

    async def _verifier_for(self, algorithm: str) -> JWTVerifier | None:
        verifier = self._by_algorithm.get(algorithm)
        if verifier is None:
            jwks_uri = await self.keys.jwks_uri()
            if jwks_uri is None:
                return None
            verifier = self._by_algorithm.setdefault(
                algorithm,
                JWTVerifier(
                    jwks_uri=jwks_uri,
                    issuer=self.keys.issuer,
                    audience=self.audience,
                    algorithm=algorithm,
                    jwks_refresh_interval=self.key_refetch_s,
                ),
            )
        return verifier

    def _identified(self, access: AccessToken) -> AccessToken | None:
        if access.expires_at is None:
            logger.warning("OAuth token refused: it has no exp claim, so it would never expire")
            return None
        identity = access.claims.get(self.client_claim)
        if isinstance(identity, int) and not isinstance(identity, bool):
            identity = str(identity)
        if not isinstance(identity, str) or not identity.strip():
            logger.warning(
                "OAuth token refused: no %r claim to name the client by; set "
                "IMAGE_MCP_OAUTH_CLIENT_CLAIM to a claim the issuer puts in access tokens",
                self.client_claim,
            )
            return None
        return access.model_copy(update={"client_id": identity.strip()})
