"""Makes the SAML response Apple's video subscriber account framework hands an app, signed with a
real XML signature library (signxml, over lxml), and the bad ones a test needs.

usage: apple_assertion.py MODE KEY_PEM ISSUER AUDIENCE NAME_ID NOT_BEFORE NOT_ON_OR_AFTER
MODE: good | unsigned | altered | wrapped | other-key
Prints Base64 of the samlp:Response.
"""
import base64
import copy
import datetime
import sys
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, methods

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def certificate(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "assertion signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))


def assertion(issuer, audience, name_id, not_before, not_on_or_after):
    element = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml": SAML},
                            ID="_" + uuid.uuid4().hex, Version="2.0", IssueInstant=not_before)
    etree.SubElement(element, f"{{{SAML}}}Issuer").text = issuer
    subject = etree.SubElement(element, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID").text = name_id
    conditions = etree.SubElement(element, f"{{{SAML}}}Conditions", NotBefore=not_before, NotOnOrAfter=not_on_or_after)
    restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
    etree.SubElement(restriction, f"{{{SAML}}}Audience").text = audience
    return element


def sign(element, key):
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert = certificate(key).public_bytes(serialization.Encoding.PEM)
    signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                       c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    return signer.sign(element, key=pem, cert=cert, reference_uri=element.get("ID"), id_attribute="ID")


def main():
    mode, key_path, issuer, audience, name_id, not_before, not_on_or_after = sys.argv[1:8]
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if mode == "other-key":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    element = assertion(issuer, audience, name_id, not_before, not_on_or_after)
    if mode != "unsigned":
        element = sign(element, key)
    if mode == "altered":
        element.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = "someone-else"
    response = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP, "saml": SAML},
                             ID="_" + uuid.uuid4().hex, Version="2.0", IssueInstant=not_before)
    if mode == "wrapped":
        # The attacker's copy first, the signed original after it: a reader that takes the
        # first assertion would believe the unsigned one.
        evil = copy.deepcopy(element)
        evil.set("ID", "_" + uuid.uuid4().hex)
        evil.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = "someone-else"
        for signature in evil.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
            evil.remove(signature)
        response.append(evil)
    response.append(element)
    sys.stdout.write(base64.b64encode(etree.tostring(response)).decode())


if __name__ == "__main__":
    main()
