"""One table of the limits on what people and clients send, for every face.

Read by the API's validation (api/tokens.py), the forms (web/token_forms.py),
the CLI options, the OpenAPI schemas and the models' column widths, so they
never disagree (migrations keep the numbers of their day).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    low: int
    high: int


EXPIRATION_DAYS = Bounds(1, 3650)  # a token's expiry; null/never is the other choice
NOTE = Bounds(1, 255)  # a token's note, a key's label (characters)
GRACE_DAYS = Bounds(0, 7)  # how long a rotated-out secret keeps working
RATE_LIMIT = Bounds(1, 100_000)  # requests per minute; null is unlimited
IP_ALLOWLIST = Bounds(0, 100)  # networks per credential; each is kept in a per-worker cache
USERNAME = Bounds(1, 64)  # a person's, or a service account's NAME@PROJECT
SLUG = Bounds(1, 64)  # a project's slug (projects.SLUG)
PROJECT_NAME = Bounds(1, 200)  # a project's display name
PASSKEY_NAME = Bounds(1, 64)  # a passkey's name, as its owner gives it
# Scopes in a list: at most the catalogue's size (scope_list). A document, and a flow
# run's input, at most DOCUMENT_MAX_BYTES; JSON nesting at most json_limits.MAX_JSON_DEPTH.
# Document members the server sets; a body may not.
SERVER_FIELDS = ("id", "created_at", "updated_at", "created_by")
