"""Drives a Tessera's OneAccess user SDK API as an independent client: Python's standard HTTP
client and the `cryptography` package, nothing of Tessera's.

usage: oneaccess_sdk.py BASE_URL CLIENT_ID TENANT_ID USER PASSWORD

For each of the two OAEP readings of `RSA/ECB/OAEPWithSHA-256AndMGF1Padding` (MGF1-SHA-256, as
BouncyCastle; MGF1-SHA-1, as Java's default provider): fetches server-date and public-key, logs
in, refreshes the id token and verifies it against the JWKS, signs and logs out, then sees the
session refused. Prints one line per step; exits 0 when every step held.
"""
import base64
import json
import sys
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BASE, CLIENT_ID, TENANT_ID, USER, PASSWORD = sys.argv[1:6]
HEADERS = {
    "X-operating-sys-version": "Android 10",
    "X-device-fingerprint": "156aysdna213sac",
    "X-device-ip": "10.10.10.1",
    "X-agent": "oneaccess_sdk.py",
    "X-L": "en",
    "X-client-id": CLIENT_ID,
    "X-tenant-id": TENANT_ID,
}


def check(condition, step):
    print(("ok   " if condition else "FAIL ") + step, flush=True)
    if not condition:
        sys.exit(1)


def call(method, path, body=None, extra=None):
    headers = dict(HEADERS, **(extra or {}))
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json;charset=utf8"
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_id_token(token):
    """RS256 against the JWKS: the key named by kid, PKCS#1 v1.5 with SHA-256."""
    header_part, claims_part, signature_part = token.split(".")
    header = json.loads(b64url(header_part))
    status, body = call("GET", "/.well-known/jwks.json")
    check(status == 200, "GET /.well-known/jwks.json")
    jwk = next(key for key in json.loads(body)["keys"] if key["kid"] == header["kid"])
    numbers = rsa.RSAPublicNumbers(int.from_bytes(b64url(jwk["e"]), "big"), int.from_bytes(b64url(jwk["n"]), "big"))
    numbers.public_key().verify(b64url(signature_part), (header_part + "." + claims_part).encode(),
                                padding.PKCS1v15(), hashes.SHA256())
    check(header["alg"] == "RS256", "id_token is RS256 and its signature verifies against the JWKS")
    return json.loads(b64url(claims_part))


def signature(token, mgf_hash):
    status, body = call("GET", "/api/v2/sdk/server-date")
    timestamp = json.loads(body)["timestamp"]
    check(status == 200 and len(timestamp) == 13 and timestamp.isdigit(), "GET server-date: " + timestamp)
    status, body = call("GET", "/api/v2/sdk/public-key")
    check(status == 200, "GET public-key")
    key = serialization.load_der_public_key(base64.b64decode(json.loads(body)["public_key"]))
    check(key.key_size == 2048, "the public key is RSA-2048 (bare base64 SPKI)")
    plaintext = "session_token=%s&timestamp=%s&nonce=%x" % (token, timestamp, int(timestamp))
    sealed = key.encrypt(plaintext.encode(), padding.OAEP(mgf=padding.MGF1(algorithm=mgf_hash), algorithm=hashes.SHA256(), label=None))
    return base64.b64encode(sealed).decode()


for name, mgf in [("MGF1-SHA-256", hashes.SHA256()), ("MGF1-SHA-1", hashes.SHA1())]:
    status, body = call("POST", "/api/v2/sdk/login", {"user_name": USER, "password": PASSWORD})
    reply = json.loads(body)
    check(status == 200 and reply["status"] == "SUCCESS" and reply["expire"] > 0, name + ": POST login")
    token = reply["session_token"]
    claims = verify_id_token(reply["id_token"])
    check(json.loads(claims["api"])["userName"] == USER, name + ": the id token's api claim names the user")

    status, body = call("POST", "/api/v2/sdk/session-token/refresh-id-token", extra={"X-signature": signature(token, mgf)})
    check(status == 200, name + ": POST session-token/refresh-id-token " + str(status) + " " + body)
    refreshed = verify_id_token(json.loads(body)["id_token"])
    check(refreshed["sub"] == claims["sub"], name + ": the refreshed id token is the same user's")

    status, body = call("GET", "/api/v2/sdk/logout", extra={"X-signature": signature(token, mgf)})
    check(status == 200, name + ": GET logout " + str(status) + " " + body)

    status, body = call("POST", "/api/v2/sdk/session-token/refresh-id-token", extra={"X-signature": signature(token, mgf)})
    check(status == 400 and json.loads(body)["error_code"] == "SDK.COMMON.1005", name + ": the ended session is refused: " + body)

print("all steps held", flush=True)
