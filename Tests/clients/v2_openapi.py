"""Checks REST v2 answers against Adobe's own OpenAPI document with openapi-core.

Reads a JSON list of exchanges on stdin ({"method", "path", "query", "status", "body"}, the
path relative to /api/v2) and the document's path as argv[1]; prints each answer that does not
validate and exits 1 if any does not.

Adobe's document has two known errors (../shared/reference/vendor/README.md), patched here so
that the documented shape is what is checked:
- ErrorInformation.message refers to Message, an empty object schema; the API pages and every
  sample show a string.
- UserMetadataResponse.value is typed object; the pages show strings, numbers, arrays and objects.
"""
import json
import sys

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

spec = json.load(open(sys.argv[1]))
spec["servers"] = [{"url": "http://localhost/api/v2"}] + spec.get("servers", [])
schemas = spec["components"]["schemas"]
schemas["Message"] = {"type": "string"}
schemas["UserMetadataResponse"]["properties"]["value"] = {}
openapi = OpenAPI.from_dict(spec)

failures = 0
exchanges = json.load(sys.stdin)
for exchange in exchanges:
    args = exchange.get("query") or {}
    request = MockRequest("http://localhost", exchange["method"].lower(), "/api/v2" + exchange["path"], args=args)
    response = MockResponse(exchange["body"].encode(), status_code=exchange["status"], content_type="application/json")
    errors = list(openapi.iter_response_errors(request, response))
    if errors:
        failures += 1
        details = "; ".join(
            f"{error}: {[str(e) for e in getattr(error, 'schema_errors', []) or getattr(getattr(error, '__cause__', None), 'schema_errors', [])]}"
            for error in errors)
        print(f"INVALID {exchange['method']} {exchange['path']} {exchange['status']}: {details}\n  body: {exchange['body'][:400]}")
print(f"checked {len(exchanges)} answers, {failures} invalid")
sys.exit(1 if failures else 0)
