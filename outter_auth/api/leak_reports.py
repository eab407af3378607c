"""Leak reports from secret scanners (SPEC §14): ``POST /api/auth/api-keys/leaks``.

The caller is a scanner, not a principal of any tenant: its request is trusted only by
its signature over the raw body (``services.leaks``), which is checked before the body
is even parsed.
"""

from __future__ import annotations

import json

from flask import Response, request

from outter_auth.api.base import Blueprint, request_origin
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.services import leaks

blp = Blueprint(
    "leak_reports", __name__, url_prefix="/api/auth/api-keys", description="Leak reports from secret scanners"
)

KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"

STRING = {"type": "string"}
REPORT = {
    "type": "array",
    "maxItems": leaks.MAX_TOKENS,
    "items": {
        "type": "object",
        "required": ["token"],
        "properties": {
            "token": {**STRING, "description": "What the scanner found"},
            "type": {**STRING, "description": "The pattern's name at the scanner"},
            "url": {**STRING, "description": "Where it was found (may be empty)"},
            "source": {**STRING, "description": "What it was found in (content, commit, issue_comment, …)"},
        },
    },
}
LABELS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "token_hash": {**STRING, "description": "Hex SHA-256 of the reported token"},
            "token_type": STRING,
            "label": {"type": "string", "enum": ["true_positive", "false_positive"]},
        },
    },
}
SIGNED_BY = [
    {
        "in": "header",
        "name": KEY_ID_HEADER,
        "schema": STRING,
        "required": True,
        "description": "key_identifier of the scanner's public key that signed the body",
    },
    {
        "in": "header",
        "name": SIGNATURE_HEADER,
        "schema": STRING,
        "required": True,
        "description": "Base64 DER ECDSA P-256 / SHA-256 signature of the raw body",
    },
]


# A scanner sends up to 1,000 matches with their URLs in one report (GitHub batches them):
# far more than the 64 KiB every other body may have.
MAX_REPORT_BYTES = 1024 * 1024


@blp.url_value_preprocessor
def _allow_a_whole_batch(endpoint: str | None, values: dict[str, object] | None) -> None:
    # A url_value_preprocessor runs before any before_request function, and so before the
    # app-wide size check of chunked bodies (errors._refuse_oversized_streams).
    request.max_content_length = MAX_REPORT_BYTES


@blp.route("/leaks", methods=["POST"])
@blp.doc(
    summary="Report leaked API keys (secret scanners)",
    description="GitHub's secret-scanning partner format. Each reported key that exists is revoked at once and "
    "the report recorded in its tenant's audit trail (`api_key.leak_reported`); each token is answered "
    "`true_positive` or `false_positive`. Signed by the scanner; 404 unless OUTTER_SECRET_SCANNING_KEYS_FILE "
    "names its public keys.",
    parameters=SIGNED_BY,
    requestBody={"required": True, "content": {"application/json": {"schema": REPORT}}},
    responses={
        "200": {"description": "One label per reported token", "content": {"application/json": {"schema": LABELS}}},
        "400": "BAD_REQUEST",
        "401": "UNAUTHORIZED",
        "404": "NOT_FOUND",
        "413": {"description": "More than 1,000 tokens, or a body over the size limit"},
        "503": "SERVICE_UNAVAILABLE",
    },
)
def report_leaks() -> Response:
    state = runtime()
    if state.scanner_keys is None:
        raise leaks.LeakReportsOff("leak reports are not configured")
    body = request.get_data(cache=True)
    state.scanner_keys.check(request.headers.get(KEY_ID_HEADER), request.headers.get(SIGNATURE_HEADER), body)
    labels = leaks.handle_report(db.session, leaks.parse_report(body), peppers=state.peppers, origin=request_origin())
    payload = json.dumps([label.as_dict() for label in labels], separators=(",", ":"))
    return Response(payload, status=200, mimetype="application/json")
