"""The HTTP edge of the three services (Starlette in, httpx out).

`problems` maps every error to an RFC 9457 response, in one place; `json` reads request bodies with our own
strict cattrs converter; `bodies` are the shapes of those bodies; `representations` turns domain values into
response JSON; `catalog` is the `ProductCatalog` port over HTTP; `idempotency` remembers Idempotency-Keys;
`service` assembles an app from routes (correlation ids, probes, error handling). The contract is
`openapi.yaml` at the repository root; the services serve the copy of it in this package (`probes`).
"""
