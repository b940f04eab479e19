# alpaca-tui: the VIEWER role.
#
# Sees every credential of the team: the non-secret index (each profile's name, environment,
# flow, masked key ID, scopes, expiry and last check). Never a secret: nothing under secrets/
# or tokens/, so alpaca-tui refuses add, rotate, remove, reveal, check, request, exec and
# proxy for this token, in one line naming the capability and path it lacks.
#
# Layout (alpaca-tui's defaults: KV v2 mount "secret", prefix "alpaca-tui"; if you set
# ALPACA_TUI_VAULT_MOUNT / ALPACA_TUI_VAULT_PREFIX, change the paths below to match):
#   secret/data/alpaca-tui/index              the team's index
#   secret/data/alpaca-tui/secrets/<profile>  secret bundles      (not for viewers)
#   secret/data/alpaca-tui/tokens/<profile>   cached access tokens (not for viewers)
#
#   bao policy write alpaca-tui-viewer alpaca-tui-viewer.hcl
#   bao token create -policy=alpaca-tui-viewer -display-name=alice
#
# Tokens also need the built-in "default" policy (lookup-self, renew-self,
# sys/capabilities-self), which bao gives every token unless told not to.

path "secret/data/alpaca-tui/index" {
  capabilities = ["read"]
}

# the index's version: how alpaca-tui notices a change made by someone else
path "secret/metadata/alpaca-tui/index" {
  capabilities = ["read"]
}
