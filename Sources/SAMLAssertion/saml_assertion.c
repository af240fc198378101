// The SAML assertion check of REST v2's Apple partner SSO. Parsing, canonicalisation, digests and
// the RSA verification are libxml2's and libxmlsec1's; this file only decides which element must
// be signed (the one assertion, by its own ID) and reads the fields Tessera checks from that same
// element, so that a signature over some other element (a wrapped copy) never vouches for it.
#include "saml_assertion.h"
#include "saml_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/errors.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/app.h>

static pthread_once_t initialised = PTHREAD_ONCE_INIT;
static int initialisation_failed = 0;

static void initialise(void) {
    xmlInitParser();
    if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0) initialisation_failed = 1;
    // A refused signature is an answer to the caller, not a line on the server's stderr.
    xmlSecErrorsDefaultCallbackEnableOutput(0);
}

int tessera_saml_initialise(void) {
    pthread_once(&initialised, initialise);
    return initialisation_failed ? -1 : 0;
}

xmlDocPtr tessera_saml_parse(const char *xml, size_t xml_length, const char **why) {
    // No network; entities are not substituted and no DTD is loaded (libxml2's defaults), and a
    // document that declares one is refused.
    xmlDocPtr doc = xmlReadMemory(xml, (int)xml_length, NULL, NULL, XML_PARSE_NONET);
    if (doc == NULL) { *why = "the message is not well-formed XML"; return NULL; }
    if (doc->intSubset != NULL || doc->extSubset != NULL) { xmlFreeDoc(doc); *why = "the document has a DTD"; return NULL; }
    if (xmlDocGetRootElement(doc) == NULL) { xmlFreeDoc(doc); *why = "the document is empty"; return NULL; }
    return doc;
}

static int fail(tessera_saml_assertion *out, const char *why) {
    out->error = strdup(why);
    return -1;
}

char *tessera_saml_content(xmlNodePtr node) {
    if (node == NULL) return NULL;
    xmlChar *content = xmlNodeGetContent(node);
    if (content == NULL) return NULL;
    char *copy = strdup((const char *)content);
    xmlFree(content);
    return copy;
}

char *tessera_saml_property(xmlNodePtr node, const char *name) {
    if (node == NULL) return NULL;
    xmlChar *value = xmlGetProp(node, BAD_CAST name);
    if (value == NULL) return NULL;
    char *copy = strdup((const char *)value);
    xmlFree(value);
    return copy;
}

int tessera_saml_count(xmlNodePtr node, const xmlChar *name, const xmlChar *ns, xmlNodePtr *found) {
    int count = 0;
    for (xmlNodePtr current = node; current != NULL; current = current->next) {
        if (current->type != XML_ELEMENT_NODE) continue;
        if (xmlSecCheckNodeName(current, name, ns)) {
            if (found != NULL && *found == NULL) *found = current;
            count++;
        }
        count += tessera_saml_count(current->children, name, ns, found);
    }
    return count;
}

xmlNodePtr tessera_saml_only_child(xmlNodePtr parent, const xmlChar *name, const xmlChar *ns) {
    xmlNodePtr found = NULL;
    for (xmlNodePtr child = parent ? parent->children : NULL; child != NULL; child = child->next) {
        if (child->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(child, name, ns)) continue;
        if (found != NULL) return NULL;
        found = child;
    }
    return found;
}

const char *tessera_saml_register_id(xmlDocPtr doc, xmlNodePtr element, char **id) {
    xmlAttrPtr attribute = xmlHasProp(element, BAD_CAST "ID");
    xmlChar *value = attribute ? xmlNodeListGetString(doc, attribute->children, 1) : NULL;
    if (value == NULL || value[0] == 0) { if (value) xmlFree(value); return "the element has no ID"; }
    if (xmlAddID(NULL, doc, value, attribute) == NULL) { xmlFree(value); return "an ID is not unique"; }
    *id = strdup((const char *)value);
    xmlFree(value);
    return NULL;
}

const char *tessera_saml_verify_enveloped(xmlNodePtr element, const char *id, const char *certificate_pem, size_t certificate_length) {
    xmlNodePtr signature = tessera_saml_only_child(element, xmlSecNodeSignature, xmlSecDSigNs);
    if (signature == NULL) return "not signed";
    xmlNodePtr signed_info = tessera_saml_only_child(signature, xmlSecNodeSignedInfo, xmlSecDSigNs);
    xmlNodePtr reference = tessera_saml_only_child(signed_info, xmlSecNodeReference, xmlSecDSigNs);
    char *uri = tessera_saml_property(reference, "URI");
    int references_element = uri != NULL && uri[0] == '#' && strcmp(uri + 1, id) == 0;
    free(uri);
    if (!references_element) return "the signature does not reference the signed element alone";

    xmlSecKeyPtr key = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)certificate_pem, (xmlSecSize)certificate_length,
                                                    xmlSecKeyDataFormatCertPem, NULL, NULL, NULL);
    if (key == NULL) return "the configured signing certificate cannot be read";
    xmlSecDSigCtxPtr context = xmlSecDSigCtxCreate(NULL);
    if (context == NULL) { xmlSecKeyDestroy(key); return "the XML security library failed"; }
    context->signKey = key;
    context->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
    const char *why = NULL;
    // SAML's transforms and nothing else (no XSLT, no XPath, no SHA-1).
    if (xmlSecDSigCtxEnableReferenceTransform(context, xmlSecTransformEnvelopedId) < 0
        || xmlSecDSigCtxEnableReferenceTransform(context, xmlSecTransformExclC14NId) < 0
        || xmlSecDSigCtxEnableReferenceTransform(context, xmlSecTransformInclC14NId) < 0
        || xmlSecDSigCtxEnableReferenceTransform(context, xmlSecTransformSha256Id) < 0
        || xmlSecDSigCtxEnableReferenceTransform(context, xmlSecTransformSha512Id) < 0
        || xmlSecDSigCtxEnableSignatureTransform(context, xmlSecTransformExclC14NId) < 0
        || xmlSecDSigCtxEnableSignatureTransform(context, xmlSecTransformInclC14NId) < 0
        || xmlSecDSigCtxEnableSignatureTransform(context, xmlSecTransformRsaSha256Id) < 0
        || xmlSecDSigCtxEnableSignatureTransform(context, xmlSecTransformRsaSha512Id) < 0) {
        why = "the XML security library failed";
    } else if (xmlSecDSigCtxVerify(context, signature) < 0) {
        why = "the signature cannot be processed";
    } else if (context->status != xmlSecDSigStatusSucceeded) {
        why = "the signature does not verify";
    }
    xmlSecDSigCtxDestroy(context);
    return why;
}

int tessera_saml_assertion_verify(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                                  tessera_saml_assertion *out) {
    memset(out, 0, sizeof(*out));
    if (tessera_saml_initialise() != 0) return fail(out, "the XML security library did not start");
    if (xml_length == 0 || xml_length > 1 << 20) return fail(out, "the assertion is empty or too large");
    const char *why = NULL;
    xmlDocPtr doc = tessera_saml_parse(xml, xml_length, &why);
    if (doc == NULL) return fail(out, why);
    int result = -1;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr assertion = NULL;

    if (tessera_saml_count(root, BAD_CAST "Assertion", TESSERA_SAML_ASSERTION_NS, &assertion) != 1) {
        fail(out, "the document must hold exactly one assertion");
        goto done;
    }
    if (tessera_saml_count(root, BAD_CAST "EncryptedAssertion", TESSERA_SAML_ASSERTION_NS, NULL) != 0) {
        fail(out, "encrypted assertions are not accepted");
        goto done;
    }
    if (assertion != root && (assertion->parent != root || !xmlSecCheckNodeName(root, BAD_CAST "Response", TESSERA_SAML_PROTOCOL_NS))) {
        fail(out, "the assertion is neither the document nor a child of its Response");
        goto done;
    }
    // The assertion's ID is the only ID the document has; the signature must be its child and
    // reference exactly "#<ID>".
    if ((why = tessera_saml_register_id(doc, assertion, &out->assertion_id)) != NULL) { fail(out, why); goto done; }
    if ((why = tessera_saml_verify_enveloped(assertion, out->assertion_id, certificate_pem, certificate_length)) != NULL) {
        fail(out, strcmp(why, "not signed") == 0 ? "the assertion is not signed" : why);
        goto done;
    }

    // The fields, from the verified assertion element only.
    out->issuer = tessera_saml_content(tessera_saml_only_child(assertion, BAD_CAST "Issuer", TESSERA_SAML_ASSERTION_NS));
    out->name_id = tessera_saml_content(tessera_saml_only_child(tessera_saml_only_child(assertion, BAD_CAST "Subject", TESSERA_SAML_ASSERTION_NS),
                                                                BAD_CAST "NameID", TESSERA_SAML_ASSERTION_NS));
    xmlNodePtr conditions = tessera_saml_only_child(assertion, BAD_CAST "Conditions", TESSERA_SAML_ASSERTION_NS);
    out->not_before = tessera_saml_property(conditions, "NotBefore");
    out->not_on_or_after = tessera_saml_property(conditions, "NotOnOrAfter");
    out->audience = tessera_saml_content(tessera_saml_only_child(tessera_saml_only_child(conditions, BAD_CAST "AudienceRestriction", TESSERA_SAML_ASSERTION_NS),
                                                                 BAD_CAST "Audience", TESSERA_SAML_ASSERTION_NS));
    result = 0;

done:
    xmlFreeDoc(doc);
    if (result != 0) {
        char *error = out->error;
        out->error = NULL;
        tessera_saml_assertion_free(out);
        out->error = error;
    }
    return result;
}

void tessera_saml_assertion_free(tessera_saml_assertion *assertion) {
    free(assertion->error);
    free(assertion->assertion_id);
    free(assertion->issuer);
    free(assertion->name_id);
    free(assertion->audience);
    free(assertion->not_before);
    free(assertion->not_on_or_after);
    memset(assertion, 0, sizeof(*assertion));
}
