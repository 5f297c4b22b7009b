"""Who is calling: bearer tokens verified into a `Caller` (ordering_core.customers). The services verify
identities; they never become an identity provider.

`verifier` checks a token (`TokenVerifier.verify` -> `Caller`, or `TokenRefused` with a reason for the log)
against `TokenRules` (issuer, audience, leeway, where the roles are); `keys` says which keys check signatures
and where they come from (key files, a provider's JWKS URL); `local` is the one-command demo's stand-in for a
provider: a file of HS256 secrets made on first use, and `LocalIssuer` signing tokens with it.
"""
