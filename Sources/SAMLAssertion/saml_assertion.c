// The SAML assertion check of REST v2's Apple partner SSO. Parsing, canonicalisation, digests and
// the RSA verification are libxml2's and libxmlsec1's; this file only decides which element must
// be signed (the one assertion, by its own ID) and reads the fields Tessera checks from that same
// element, so that a signature over some other element (a wrapped copy) never vouches for it.
#include "saml_assertion.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/crypto.h>
#include <xmlsec/openssl/app.h>

static const xmlChar *assertion_ns = BAD_CAST "urn:oasis:names:tc:SAML:2.0:assertion";

static pthread_once_t initialised = PTHREAD_ONCE_INIT;
static int initialisation_failed = 0;

static void initialise(void) {
    xmlInitParser();
    if (xmlSecInit() < 0 || xmlSecCryptoAppInit(NULL) < 0 || xmlSecCryptoInit() < 0) initialisation_failed = 1;
}

static int fail(tessera_saml_assertion *out, const char *why) {
    out->error = strdup(why);
    return -1;
}

static char *copy_content(xmlNodePtr node) {
    if (node == NULL) return NULL;
    xmlChar *content = xmlNodeGetContent(node);
    if (content == NULL) return NULL;
    char *copy = strdup((const char *)content);
    xmlFree(content);
    return copy;
}

static char *copy_attribute(xmlNodePtr node, const char *name) {
    if (node == NULL) return NULL;
    xmlChar *value = xmlGetProp(node, BAD_CAST name);
    if (value == NULL) return NULL;
    char *copy = strdup((const char *)value);
    xmlFree(value);
    return copy;
}

/// Counts the elements named `name` in namespace `ns` under `node`, `node` included.
static int count_elements(xmlNodePtr node, const xmlChar *name, const xmlChar *ns, xmlNodePtr *found) {
    int count = 0;
    for (xmlNodePtr current = node; current != NULL; current = current->next) {
        if (current->type != XML_ELEMENT_NODE) continue;
        if (xmlSecCheckNodeName(current, name, ns)) {
            if (found != NULL && *found == NULL) *found = current;
            count++;
        }
        count += count_elements(current->children, name, ns, found);
    }
    return count;
}

/// The only child of `parent` named `name` in `ns`, or NULL (none, or more than one).
static xmlNodePtr only_child(xmlNodePtr parent, const xmlChar *name, const xmlChar *ns) {
    xmlNodePtr found = NULL;
    for (xmlNodePtr child = parent ? parent->children : NULL; child != NULL; child = child->next) {
        if (child->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(child, name, ns)) continue;
        if (found != NULL) return NULL;
        found = child;
    }
    return found;
}

int tessera_saml_assertion_verify(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                                  tessera_saml_assertion *out) {
    memset(out, 0, sizeof(*out));
    pthread_once(&initialised, initialise);
    if (initialisation_failed) return fail(out, "the XML security library did not start");
    if (xml_length == 0 || xml_length > 1 << 20) return fail(out, "the assertion is empty or too large");

    // No network; entities are not substituted and no DTD is loaded (libxml2's defaults), and a
    // document that declares one is refused below.
    xmlDocPtr doc = xmlReadMemory(xml, (int)xml_length, NULL, NULL, XML_PARSE_NONET);
    if (doc == NULL) return fail(out, "the assertion is not well-formed XML");
    int result = -1;
    xmlSecKeyPtr key = NULL;
    xmlSecDSigCtxPtr context = NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr assertion = NULL;

    if (doc->intSubset != NULL || doc->extSubset != NULL) { fail(out, "the document has a DTD"); goto done; }
    if (root == NULL) { fail(out, "the document is empty"); goto done; }
    if (count_elements(root, BAD_CAST "Assertion", assertion_ns, &assertion) != 1) {
        fail(out, "the document must hold exactly one assertion");
        goto done;
    }
    if (count_elements(root, BAD_CAST "EncryptedAssertion", assertion_ns, NULL) != 0) {
        fail(out, "encrypted assertions are not accepted");
        goto done;
    }
    if (assertion != root && (assertion->parent != root || !xmlSecCheckNodeName(root, BAD_CAST "Response", BAD_CAST "urn:oasis:names:tc:SAML:2.0:protocol"))) {
        fail(out, "the assertion is neither the document nor a child of its Response");
        goto done;
    }

    // The assertion's ID is the only ID the document has; the signature must be its child and
    // reference exactly "#<ID>".
    xmlAttrPtr id_attribute = xmlHasProp(assertion, BAD_CAST "ID");
    xmlChar *id = id_attribute ? xmlNodeListGetString(doc, id_attribute->children, 1) : NULL;
    if (id == NULL || id[0] == 0) { if (id) xmlFree(id); fail(out, "the assertion has no ID"); goto done; }
    if (xmlAddID(NULL, doc, id, id_attribute) == NULL) { xmlFree(id); fail(out, "the assertion's ID is not unique"); goto done; }
    out->assertion_id = strdup((const char *)id);
    xmlFree(id);

    xmlNodePtr signature = only_child(assertion, xmlSecNodeSignature, xmlSecDSigNs);
    if (signature == NULL) { fail(out, "the assertion is not signed"); goto done; }
    xmlNodePtr signed_info = only_child(signature, xmlSecNodeSignedInfo, xmlSecDSigNs);
    xmlNodePtr reference = only_child(signed_info, xmlSecNodeReference, xmlSecDSigNs);
    char *uri = copy_attribute(reference, "URI");
    int references_assertion = uri != NULL && uri[0] == '#' && strcmp(uri + 1, out->assertion_id) == 0;
    free(uri);
    if (!references_assertion) { fail(out, "the signature does not reference the assertion alone"); goto done; }

    key = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)certificate_pem, (xmlSecSize)certificate_length, xmlSecKeyDataFormatCertPem,
                                       NULL, NULL, NULL);
    if (key == NULL) { fail(out, "the configured signing certificate cannot be read"); goto done; }
    context = xmlSecDSigCtxCreate(NULL);
    if (context == NULL) { fail(out, "the XML security library failed"); goto done; }
    context->signKey = key;
    key = NULL;
    context->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
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
        fail(out, "the XML security library failed");
        goto done;
    }
    if (xmlSecDSigCtxVerify(context, signature) < 0) { fail(out, "the signature cannot be processed"); goto done; }
    if (context->status != xmlSecDSigStatusSucceeded) { fail(out, "the signature does not verify"); goto done; }

    // The fields, from the verified assertion element only.
    out->issuer = copy_content(only_child(assertion, BAD_CAST "Issuer", assertion_ns));
    out->name_id = copy_content(only_child(only_child(assertion, BAD_CAST "Subject", assertion_ns), BAD_CAST "NameID", assertion_ns));
    xmlNodePtr conditions = only_child(assertion, BAD_CAST "Conditions", assertion_ns);
    out->not_before = copy_attribute(conditions, "NotBefore");
    out->not_on_or_after = copy_attribute(conditions, "NotOnOrAfter");
    out->audience = copy_content(only_child(only_child(conditions, BAD_CAST "AudienceRestriction", assertion_ns), BAD_CAST "Audience", assertion_ns));
    result = 0;

done:
    if (context != NULL) xmlSecDSigCtxDestroy(context);
    if (key != NULL) xmlSecKeyDestroy(key);
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
