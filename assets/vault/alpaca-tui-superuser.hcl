# alpaca-tui: the SUPERUSER role.
#
# Everything a viewer may, and creates, rotates, removes, reveals and uses credentials:
# read and write the index, the secret bundles (every version: active, pending, previous)
# and the shared access-token cache (fleet-wide single flight), and record who wrote each
# version (custom_metadata).
#
# Layout (alpaca-tui's defaults: KV v2 mount "secret", prefix "alpaca-tui"; if you set
# ALPACA_TUI_VAULT_MOUNT / ALPACA_TUI_VAULT_PREFIX, change the paths below to match):
#   secret/data/alpaca-tui/index              the team's index
#   secret/data/alpaca-tui/secrets/<profile>  secret bundles
#   secret/data/alpaca-tui/tokens/<profile>   cached access tokens
#
#   bao policy write alpaca-tui-superuser alpaca-tui-superuser.hcl
#   bao token create -policy=alpaca-tui-superuser -display-name=bob
#
# Tokens also need the built-in "default" policy (lookup-self, renew-self,
# sys/capabilities-self), which bao gives every token unless told not to.

path "secret/data/alpaca-tui/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# versions, who wrote them (custom_metadata), listing, and removal with every version
path "secret/metadata/alpaca-tui/*" {
  capabilities = ["read", "update", "delete", "list"]
}
