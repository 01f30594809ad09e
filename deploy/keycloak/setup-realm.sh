#!/usr/bin/env bash
# One-time Keycloak set-up for hosted agents (README: "Connecting hosted agents"). Run it in
# the keycloak container of compose.yaml's "oauth" profile, with the MCP resource URL:
#
#   docker compose --profile oauth exec -e MCP_RESOURCE=https://mcp.example.com/mcp \
#     keycloak bash /opt/keycloak/setup/setup-realm.sh
#
# It creates realm "mcp" with
# - a client scope "images", a realm default (so every registered client gets it), whose
#   audience mapper puts MCP_RESOURCE into access tokens' aud (Keycloak does not act on the
#   RFC 8707 resource parameter clients send);
# - anonymous dynamic client registration for Claude's and ChatGPT's redirect hosts, and for
#   loopback redirects (desktop and CLI clients such as Claude Code): the
#   realm's own "Trusted Hosts" policy, told to check the clients' redirect URIs rather than the
#   host that registers (the agent vendor's servers). The other default policies for anonymous
#   registration (consent required, allowed mapper types and scopes, max clients) stay on.
set -euo pipefail
: "${MCP_RESOURCE:?set MCP_RESOURCE to IMAGE_MCP_PUBLIC_URL + /mcp}"
realm=${REALM:-mcp}
trusted_hosts=${TRUSTED_HOSTS:-claude.ai,claude.com,chatgpt.com,localhost,127.0.0.1}
kcadm=/opt/keycloak/bin/kcadm.sh

"$kcadm" config credentials --server http://localhost:8080 --realm master \
  --user "$KC_BOOTSTRAP_ADMIN_USERNAME" --password "$KC_BOOTSTRAP_ADMIN_PASSWORD"
"$kcadm" create realms -s realm="$realm" -s enabled=true -s accessTokenLifespan=600

scope_id=$("$kcadm" create client-scopes -r "$realm" -i \
  -s name=images -s protocol=openid-connect \
  -s 'attributes."include.in.token.scope"=true' \
  -s 'attributes."display.on.consent.screen"=true' \
  -s 'attributes."consent.screen.text"=Analyse images with OpenRouter Image MCP')
"$kcadm" create "client-scopes/$scope_id/protocol-mappers/models" -r "$realm" \
  -s name=image-mcp-audience -s protocol=openid-connect -s protocolMapper=oidc-audience-mapper \
  -s "config.\"included.custom.audience\"=$MCP_RESOURCE" \
  -s 'config."access.token.claim"=true' -s 'config."id.token.claim"=false'
"$kcadm" update "realms/$realm/default-default-client-scopes/$scope_id"

policy_id=$("$kcadm" get components -r "$realm" \
  -q type=org.keycloak.services.clientregistration.policy.ClientRegistrationPolicy \
  -q name="Trusted Hosts" --fields id --format csv --noquotes)
hosts=$(printf '"%s",' ${trusted_hosts//,/ })
"$kcadm" update "components/$policy_id" -r "$realm" \
  -s "config.\"trusted-hosts\"=[${hosts%,}]" \
  -s 'config."host-sending-registration-request-must-match"=["false"]' \
  -s 'config."client-uris-must-match"=["true"]'

echo "realm $realm is ready; on the MCP server set IMAGE_MCP_OAUTH_ISSUER=<KEYCLOAK_URL>/realms/$realm"
echo "and IMAGE_MCP_OAUTH_REQUIRED_SCOPES=images. Add users with: $kcadm create users -r $realm ..."
