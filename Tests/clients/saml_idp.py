"""Plays a SAML 2.0 identity provider's part for Tessera's bad-input tests: Responses to an
AuthnRequest and LogoutRequests, signed with a real XML signature library (signxml, over lxml),
and the bad ones a test needs.

usage: saml_idp.py response MODE KEY_PEM CERT_PEM SAML_REQUEST ISSUER
       saml_idp.py logout MODE KEY_PEM CERT_PEM DESTINATION ISSUER NAME_ID SESSION_INDEX
SAML_REQUEST: the AuthnRequest as the HTTP-Redirect binding carried it (deflated, base64); the
Response answers its ID, at its AssertionConsumerServiceURL, for its Issuer (the audience).
response MODE: good | unsigned | altered | wrapped | moved-signature | other-key | expired |
               not-yet | wrong-audience | wrong-recipient | other-request | denied
logout MODE: good | unsigned | other-key | altered
Prints Base64 of the message (the HTTP-POST binding's form value).
"""
import base64
import copy
import datetime
import sys
import uuid
import zlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import XMLSigner, methods

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NAME_ID = "household-1"
SESSION_INDEX = "idx-1"


def instant(delta_seconds=0):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(element, key_pem, cert_pem):
    signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                       c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    signed = signer.sign(element, key=key_pem, cert=cert_pem, reference_uri=element.get("ID"), id_attribute="ID")
    # SAML's schema puts the signature right after the Issuer.
    signature = signed.find(f"{{{DS}}}Signature")
    signed.remove(signature)
    signed.insert(1, signature)
    return signed


def assertion(issuer, audience, recipient, in_response_to, mode):
    not_before, not_after = instant(-60), instant(300)
    if mode == "expired":
        not_before, not_after = instant(-3600), instant(-1800)
    if mode == "not-yet":
        not_before, not_after = instant(1800), instant(3600)
    element = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml": SAML}, ID="_" + uuid.uuid4().hex, Version="2.0", IssueInstant=instant())
    etree.SubElement(element, f"{{{SAML}}}Issuer").text = issuer
    subject = etree.SubElement(element, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID", Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent").text = NAME_ID
    confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
    etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData", NotOnOrAfter=not_after,
                     Recipient="https://elsewhere.test/acs" if mode == "wrong-recipient" else recipient,
                     InResponseTo="_another-request" if mode == "other-request" else in_response_to)
    conditions = etree.SubElement(element, f"{{{SAML}}}Conditions", NotBefore=not_before, NotOnOrAfter=not_after)
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = "https://elsewhere.test/sp" if mode == "wrong-audience" else audience
    statement = etree.SubElement(element, f"{{{SAML}}}AuthnStatement", AuthnInstant=instant(), SessionIndex=SESSION_INDEX)
    context = etree.SubElement(statement, f"{{{SAML}}}AuthnContext")
    etree.SubElement(context, f"{{{SAML}}}AuthnContextClassRef").text = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
    attributes = etree.SubElement(element, f"{{{SAML}}}AttributeStatement")
    for name, values in (("uid", ["household-1"]), ("eduPersonAffiliation", ["member", "premium"]), ("zip", ["10001"])):
        attribute = etree.SubElement(attributes, f"{{{SAML}}}Attribute", Name=name)
        for value in values:
            etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
    return element


def response(mode, key_pem, cert_pem, saml_request, issuer):
    request = etree.fromstring(zlib.decompress(base64.b64decode(saml_request), -15))
    request_id = request.get("ID")
    acs = request.get("AssertionConsumerServiceURL")
    audience = request.find(f"{{{SAML}}}Issuer").text
    root = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP, "saml": SAML}, ID="_" + uuid.uuid4().hex, Version="2.0",
                         IssueInstant=instant(), Destination=acs, InResponseTo=request_id)
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = issuer
    status = etree.SubElement(root, f"{{{SAMLP}}}Status")
    code = etree.SubElement(status, f"{{{SAMLP}}}StatusCode",
                            Value="urn:oasis:names:tc:SAML:2.0:status:Responder" if mode == "denied" else "urn:oasis:names:tc:SAML:2.0:status:Success")
    if mode == "denied":
        etree.SubElement(code, f"{{{SAMLP}}}StatusCode", Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
        return root
    element = assertion(issuer, audience, acs, request_id, mode)
    if mode != "unsigned":
        element = sign(element, key_pem, cert_pem)
    if mode == "altered":
        element.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = "someone-else"
    if mode == "wrapped":
        # A second assertion, the attacker's, before the signed original.
        evil = copy.deepcopy(element)
        evil.set("ID", "_" + uuid.uuid4().hex)
        evil.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = "someone-else"
        evil.remove(evil.find(f"{{{DS}}}Signature"))
        root.append(evil)
    if mode == "moved-signature":
        # The signed original hidden in the Response's Extensions, an unsigned copy in its place
        # whose ID the signature names.
        extensions = etree.Element(f"{{{SAMLP}}}Extensions")
        original = copy.deepcopy(element)
        extensions.append(original)
        root.insert(1, extensions)
        element.remove(element.find(f"{{{DS}}}Signature"))
        element.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = "someone-else"
    root.append(element)
    return root


def logout(mode, key_pem, cert_pem, destination, issuer, name_id, session_index):
    root = etree.Element(f"{{{SAMLP}}}LogoutRequest", nsmap={"samlp": SAMLP, "saml": SAML}, ID="_" + uuid.uuid4().hex, Version="2.0",
                         IssueInstant=instant(), Destination=destination, NotOnOrAfter=instant(300))
    etree.SubElement(root, f"{{{SAML}}}Issuer").text = issuer
    etree.SubElement(root, f"{{{SAML}}}NameID", Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent").text = name_id
    etree.SubElement(root, f"{{{SAMLP}}}SessionIndex").text = session_index
    if mode != "unsigned":
        root = sign(root, key_pem, cert_pem)
    if mode == "altered":
        root.find(f"{{{SAMLP}}}SessionIndex").text = "idx-other"
    return root


def main():
    kind, mode, key_path, cert_path = sys.argv[1:5]
    with open(key_path, "rb") as f:
        key_pem = f.read()
    with open(cert_path, "rb") as f:
        cert_pem = f.read()
    if mode == "other-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if kind == "response":
        element = response(mode, key_pem, cert_pem, *sys.argv[5:7])
    else:
        element = logout(mode, key_pem, cert_pem, *sys.argv[5:9])
    sys.stdout.write(base64.b64encode(etree.tostring(element)).decode())


if __name__ == "__main__":
    main()
