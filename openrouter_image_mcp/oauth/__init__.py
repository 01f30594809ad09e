"""The MCP authorization spec's resource-server role: hosted agents sign in with OAuth 2.1.

Sign-in itself belongs to an existing authorization server (Keycloak, Auth0, ...); this server
publishes where that is (RFC 9728 metadata), checks the access tokens it issues for this
server's URL, and names each client by a claim of the token.
"""

from .resource import build_resource_server

__all__ = ["build_resource_server"]
