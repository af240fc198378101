// The SAML 2.0 service provider's messages (Tessera as an SP of a TV provider's identity
// provider): reading and verifying Responses and logout messages, reading the provider's
// metadata, the HTTP-Redirect binding's query signature, and a certificate for Tessera's key.
// Parsing, canonicalisation, digests and RSA are libxml2's, libxmlsec1's and OpenSSL's; this file
// decides which element must be signed and reads every trusted field from that element alone.
#include "saml_messages.h"
#include "saml_internal.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/xmldsig.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define A TESSERA_SAML_ASSERTION_NS
#define P TESSERA_SAML_PROTOCOL_NS
#define M TESSERA_SAML_METADATA_NS

static const size_t maximum_length = 1 << 20;

static int message_fail(tessera_saml_message *out, const char *why) {
    free(out->error);
    out->error = strdup(why);
    return -1;
}

/// Appends `value` (taken) to the '\n'-joined list `*list`.
static void append(char **list, char *value) {
    if (value == NULL) return;
    if (*list == NULL) { *list = value; return; }
    size_t length = strlen(*list) + strlen(value) + 2;
    char *joined = malloc(length);
    if (joined != NULL) snprintf(joined, length, "%s\n%s", *list, value);
    free(*list);
    free(value);
    *list = joined;
}

static void read_name_id(xmlNodePtr name_id, tessera_saml_message *out) {
    if (name_id == NULL) return;
    out->name_id = tessera_saml_content(name_id);
    out->name_id_format = tessera_saml_property(name_id, "Format");
    out->name_qualifier = tessera_saml_property(name_id, "NameQualifier");
    out->sp_name_qualifier = tessera_saml_property(name_id, "SPNameQualifier");
}

/// The root's own attributes, Issuer and Status.
static void read_root(xmlNodePtr root, tessera_saml_message *out) {
    out->root = strdup((const char *)root->name);
    out->destination = tessera_saml_property(root, "Destination");
    out->in_response_to = tessera_saml_property(root, "InResponseTo");
    out->issue_instant = tessera_saml_property(root, "IssueInstant");
    out->issuer = tessera_saml_content(tessera_saml_only_child(root, BAD_CAST "Issuer", A));
    xmlNodePtr code = tessera_saml_only_child(tessera_saml_only_child(root, BAD_CAST "Status", P), BAD_CAST "StatusCode", P);
    out->status = tessera_saml_property(code, "Value");
    out->sub_status = tessera_saml_property(tessera_saml_only_child(code, BAD_CAST "StatusCode", P), "Value");
}

static void read_assertion(xmlNodePtr assertion, tessera_saml_message *out) {
    out->assertion_issuer = tessera_saml_content(tessera_saml_only_child(assertion, BAD_CAST "Issuer", A));
    xmlNodePtr subject = tessera_saml_only_child(assertion, BAD_CAST "Subject", A);
    read_name_id(tessera_saml_only_child(subject, BAD_CAST "NameID", A), out);
    // The bearer confirmation: where the assertion may be delivered, until when, for which request.
    for (xmlNodePtr c = subject ? subject->children : NULL; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(c, BAD_CAST "SubjectConfirmation", A)) continue;
        char *method = tessera_saml_property(c, "Method");
        int bearer = method != NULL && strcmp(method, "urn:oasis:names:tc:SAML:2.0:cm:bearer") == 0;
        free(method);
        if (!bearer || out->recipient != NULL) continue;
        xmlNodePtr data = tessera_saml_only_child(c, BAD_CAST "SubjectConfirmationData", A);
        out->recipient = tessera_saml_property(data, "Recipient");
        out->subject_in_response_to = tessera_saml_property(data, "InResponseTo");
        out->subject_not_on_or_after = tessera_saml_property(data, "NotOnOrAfter");
    }
    xmlNodePtr conditions = tessera_saml_only_child(assertion, BAD_CAST "Conditions", A);
    out->conditions_not_before = tessera_saml_property(conditions, "NotBefore");
    out->conditions_not_on_or_after = tessera_saml_property(conditions, "NotOnOrAfter");
    for (xmlNodePtr r = conditions ? conditions->children : NULL; r != NULL; r = r->next) {
        if (r->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(r, BAD_CAST "AudienceRestriction", A)) continue;
        for (xmlNodePtr a = r->children; a != NULL; a = a->next) {
            if (a->type == XML_ELEMENT_NODE && xmlSecCheckNodeName(a, BAD_CAST "Audience", A)) append(&out->audiences, tessera_saml_content(a));
        }
    }
    xmlNodePtr statement = tessera_saml_only_child(assertion, BAD_CAST "AuthnStatement", A);
    out->session_indexes = tessera_saml_property(statement, "SessionIndex");
    out->session_not_on_or_after = tessera_saml_property(statement, "SessionNotOnOrAfter");

    size_t capacity = 0;
    for (xmlNodePtr s = assertion->children; s != NULL; s = s->next) {
        if (s->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(s, BAD_CAST "AttributeStatement", A)) continue;
        for (xmlNodePtr attribute = s->children; attribute != NULL; attribute = attribute->next) {
            if (attribute->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(attribute, BAD_CAST "Attribute", A)) continue;
            for (xmlNodePtr v = attribute->children; v != NULL; v = v->next) {
                if (v->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(v, BAD_CAST "AttributeValue", A)) continue;
                if (out->attribute_count == capacity) {
                    if (capacity >= 4096) return;
                    size_t grown = capacity == 0 ? 16 : capacity * 2;
                    tessera_saml_attribute *more = realloc(out->attributes, grown * sizeof(*more));
                    if (more == NULL) return;
                    out->attributes = more;
                    capacity = grown;
                }
                out->attributes[out->attribute_count].name = tessera_saml_property(attribute, "Name");
                out->attributes[out->attribute_count].value = tessera_saml_content(v);
                out->attribute_count++;
            }
        }
    }
}

/// Parses `xml`, checks its size and that its root is `samlp:` one of `roots`.
static xmlDocPtr open_message(const char *xml, size_t xml_length, const char *const *roots, tessera_saml_message *out) {
    memset(out, 0, sizeof(*out));
    if (tessera_saml_initialise() != 0) { message_fail(out, "the XML security library did not start"); return NULL; }
    if (xml_length == 0 || xml_length > maximum_length) { message_fail(out, "the message is empty or too large"); return NULL; }
    const char *why = NULL;
    xmlDocPtr doc = tessera_saml_parse(xml, xml_length, &why);
    if (doc == NULL) { message_fail(out, why); return NULL; }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (const char *const *name = roots; *name != NULL; name++) {
        if (xmlSecCheckNodeName(root, BAD_CAST *name, P)) return doc;
    }
    xmlFreeDoc(doc);
    message_fail(out, "the message is not of the expected kind");
    return NULL;
}

static int finish(xmlDocPtr doc, int result, tessera_saml_message *out) {
    xmlFreeDoc(doc);
    if (result != 0) {
        char *error = out->error;
        out->error = NULL;
        tessera_saml_message_free(out);
        out->error = error;
    }
    return result;
}

int tessera_saml_read_response(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                               tessera_saml_message *out) {
    static const char *const roots[] = {"Response", NULL};
    xmlDocPtr doc = open_message(xml, xml_length, roots, out);
    if (doc == NULL) return -1;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    const char *why = NULL;
    read_root(root, out);
    if (out->status == NULL) return finish(doc, message_fail(out, "the response has no status"), out);
    if (strcmp(out->status, "urn:oasis:names:tc:SAML:2.0:status:Success") != 0) return finish(doc, 0, out);

    xmlNodePtr assertion = NULL;
    if (tessera_saml_count(root, BAD_CAST "Assertion", A, &assertion) != 1) {
        return finish(doc, message_fail(out, "the response must hold exactly one assertion"), out);
    }
    if (tessera_saml_count(root, BAD_CAST "EncryptedAssertion", A, NULL) != 0) {
        return finish(doc, message_fail(out, "encrypted assertions are not accepted"), out);
    }
    if (assertion->parent != root) return finish(doc, message_fail(out, "the assertion is not a child of the response"), out);
    // The two IDs a signature may name, each unique in the document.
    if ((why = tessera_saml_register_id(doc, assertion, &out->assertion_id)) != NULL) return finish(doc, message_fail(out, why), out);
    int response_signed = tessera_saml_only_child(root, xmlSecNodeSignature, xmlSecDSigNs) != NULL;
    if (response_signed) {
        if ((why = tessera_saml_register_id(doc, root, &out->id)) != NULL) return finish(doc, message_fail(out, why), out);
    } else {
        out->id = tessera_saml_property(root, "ID");
    }
    if ((why = tessera_saml_verify_enveloped(assertion, out->assertion_id, certificate_pem, certificate_length)) != NULL) {
        return finish(doc, message_fail(out, strcmp(why, "not signed") == 0 ? "the assertion is not signed" : why), out);
    }
    if (response_signed) {
        if ((why = tessera_saml_verify_enveloped(root, out->id, certificate_pem, certificate_length)) != NULL) {
            return finish(doc, message_fail(out, why), out);
        }
        out->root_signed = 1;
    }
    read_assertion(assertion, out);
    return finish(doc, 0, out);
}

int tessera_saml_read_logout(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                             tessera_saml_message *out) {
    static const char *const roots[] = {"LogoutRequest", "LogoutResponse", NULL};
    xmlDocPtr doc = open_message(xml, xml_length, roots, out);
    if (doc == NULL) return -1;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    const char *why = NULL;
    if ((why = tessera_saml_register_id(doc, root, &out->id)) != NULL) return finish(doc, message_fail(out, why), out);
    if (certificate_pem != NULL) {
        if ((why = tessera_saml_verify_enveloped(root, out->id, certificate_pem, certificate_length)) != NULL) {
            return finish(doc, message_fail(out, strcmp(why, "not signed") == 0 ? "the message is not signed" : why), out);
        }
        out->root_signed = 1;
    }
    read_root(root, out);
    out->not_on_or_after = tessera_saml_property(root, "NotOnOrAfter");
    if (tessera_saml_count(root->children, BAD_CAST "EncryptedID", A, NULL) != 0) {
        return finish(doc, message_fail(out, "encrypted name identifiers are not accepted"), out);
    }
    read_name_id(tessera_saml_only_child(root, BAD_CAST "NameID", A), out);
    for (xmlNodePtr s = root->children; s != NULL; s = s->next) {
        if (s->type == XML_ELEMENT_NODE && xmlSecCheckNodeName(s, BAD_CAST "SessionIndex", P)) append(&out->session_indexes, tessera_saml_content(s));
    }
    return finish(doc, 0, out);
}

void tessera_saml_message_free(tessera_saml_message *m) {
    char **fields[] = {&m->error, &m->root, &m->id, &m->issuer, &m->destination, &m->in_response_to, &m->issue_instant, &m->status,
                       &m->sub_status, &m->not_on_or_after, &m->name_id, &m->name_id_format, &m->name_qualifier, &m->sp_name_qualifier,
                       &m->session_indexes, &m->assertion_id, &m->assertion_issuer, &m->conditions_not_before,
                       &m->conditions_not_on_or_after, &m->audiences, &m->recipient, &m->subject_in_response_to,
                       &m->subject_not_on_or_after, &m->session_not_on_or_after};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) free(*fields[i]);
    for (size_t i = 0; i < m->attribute_count; i++) {
        free(m->attributes[i].name);
        free(m->attributes[i].value);
    }
    free(m->attributes);
    memset(m, 0, sizeof(*m));
}

// MARK: - Metadata

static const char *redirect_binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// The Location (or ResponseLocation) of the first `name` child of `descriptor` with the Redirect binding.
static char *endpoint(xmlNodePtr descriptor, const char *name, const char *attribute) {
    for (xmlNodePtr e = descriptor->children; e != NULL; e = e->next) {
        if (e->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(e, BAD_CAST name, M)) continue;
        char *binding = tessera_saml_property(e, "Binding");
        int redirect = binding != NULL && strcmp(binding, redirect_binding) == 0;
        free(binding);
        if (redirect) return tessera_saml_property(e, attribute);
    }
    return NULL;
}

/// The certificate's base64 without whitespace.
static char *compact(char *text) {
    if (text == NULL) return NULL;
    size_t j = 0;
    for (size_t i = 0; text[i] != 0; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') text[j++] = text[i];
    }
    text[j] = 0;
    return text;
}

/// Counts the EntityDescriptors with an IdP role under `node` (EntitiesDescriptors nest) that
/// `entity_id` names (any when NULL); the last is put in `*entity` and its role in `*descriptor`.
static int find_provider(xmlNodePtr node, const char *entity_id, xmlNodePtr *entity, xmlNodePtr *descriptor) {
    if (node == NULL || node->type != XML_ELEMENT_NODE) return 0;
    int count = 0;
    if (xmlSecCheckNodeName(node, BAD_CAST "EntitiesDescriptor", M)) {
        for (xmlNodePtr child = node->children; child != NULL; child = child->next) count += find_provider(child, entity_id, entity, descriptor);
        return count;
    }
    if (!xmlSecCheckNodeName(node, BAD_CAST "EntityDescriptor", M)) return 0;
    xmlNodePtr idp = NULL;
    for (xmlNodePtr c = node->children; c != NULL && idp == NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && xmlSecCheckNodeName(c, BAD_CAST "IDPSSODescriptor", M)) idp = c;
    }
    char *id = tessera_saml_property(node, "entityID");
    if (idp != NULL && id != NULL && (entity_id == NULL || strcmp(id, entity_id) == 0)) {
        count = 1;
        *entity = node;
        *descriptor = idp;
    }
    free(id);
    return count;
}

int tessera_saml_read_metadata(const char *xml, size_t xml_length, const char *entity_id, tessera_saml_metadata *out) {
    memset(out, 0, sizeof(*out));
    if (tessera_saml_initialise() != 0 || xml_length == 0 || xml_length > 8 * maximum_length) {
        out->error = strdup("the metadata is empty or too large");
        return -1;
    }
    const char *why = NULL;
    xmlDocPtr doc = tessera_saml_parse(xml, xml_length, &why);
    if (doc == NULL) { out->error = strdup(why); return -1; }
    xmlNodePtr entity = NULL, descriptor = NULL;
    int candidates = find_provider(xmlDocGetRootElement(doc), entity_id, &entity, &descriptor);
    if (candidates != 1) {
        out->error = strdup(candidates == 0 ? "the metadata describes no such identity provider" : "the metadata describes several identity providers; name one with entity_id");
        xmlFreeDoc(doc);
        return -1;
    }
    out->entity_id = tessera_saml_property(entity, "entityID");
    out->sso_redirect = endpoint(descriptor, "SingleSignOnService", "Location");
    out->slo_redirect = endpoint(descriptor, "SingleLogoutService", "Location");
    out->slo_redirect_response = endpoint(descriptor, "SingleLogoutService", "ResponseLocation");
    for (xmlNodePtr k = descriptor->children; k != NULL; k = k->next) {
        if (k->type != XML_ELEMENT_NODE || !xmlSecCheckNodeName(k, BAD_CAST "KeyDescriptor", M)) continue;
        char *use = tessera_saml_property(k, "use");
        int signing = use == NULL || strcmp(use, "signing") == 0;
        free(use);
        if (!signing) continue;
        xmlNodePtr certificate = NULL;
        tessera_saml_count(k->children, BAD_CAST "X509Certificate", xmlSecDSigNs, &certificate);
        append(&out->certificates, compact(tessera_saml_content(certificate)));
    }
    xmlFreeDoc(doc);
    return 0;
}

void tessera_saml_metadata_free(tessera_saml_metadata *m) {
    free(m->error);
    free(m->entity_id);
    free(m->sso_redirect);
    free(m->slo_redirect);
    free(m->slo_redirect_response);
    free(m->certificates);
    memset(m, 0, sizeof(*m));
}

// MARK: - The HTTP-Redirect binding's signature, and Tessera's certificate

int tessera_saml_verify_query(const char *signed_text, size_t signed_length, const unsigned char *signature, size_t signature_length,
                              const char *certificate_pem, size_t certificate_length, int sha512) {
    BIO *bio = BIO_new_mem_buf(certificate_pem, (int)certificate_length);
    X509 *certificate = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (certificate == NULL) return -1;
    EVP_PKEY *key = X509_get0_pubkey(certificate);
    int result = -1;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (key != NULL && EVP_PKEY_base_id(key) == EVP_PKEY_RSA && context != NULL
        && EVP_DigestVerifyInit(context, NULL, sha512 ? EVP_sha512() : EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(context, signature, signature_length, (const unsigned char *)signed_text, signed_length) == 1) {
        result = 0;
    }
    EVP_MD_CTX_free(context);
    X509_free(certificate);
    return result;
}

int tessera_saml_self_signed(const char *private_key_pem, size_t key_length, const char *common_name, char **certificate_pem) {
    *certificate_pem = NULL;
    BIO *in = BIO_new_mem_buf(private_key_pem, (int)key_length);
    EVP_PKEY *key = in ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
    BIO_free(in);
    if (key == NULL) return -1;
    int result = -1;
    X509 *certificate = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIO *out = BIO_new(BIO_s_mem());
    if (certificate != NULL && name != NULL && out != NULL
        && X509_set_version(certificate, 2) == 1
        && ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1) == 1
        && ASN1_TIME_set(X509_getm_notBefore(certificate), 1577836800) != NULL   // 2020-01-01
        && ASN1_TIME_set_string(X509_getm_notAfter(certificate), "20600101000000Z") == 1
        && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0) == 1
        && X509_set_subject_name(certificate, name) == 1 && X509_set_issuer_name(certificate, name) == 1
        && X509_set_pubkey(certificate, key) == 1
        && X509_sign(certificate, key, EVP_sha256()) > 0
        && PEM_write_bio_X509(out, certificate) == 1) {
        char *data = NULL;
        long length = BIO_get_mem_data(out, &data);
        if (length > 0 && (*certificate_pem = malloc((size_t)length + 1)) != NULL) {
            memcpy(*certificate_pem, data, (size_t)length);
            (*certificate_pem)[length] = 0;
            result = 0;
        }
    }
    BIO_free(out);
    X509_NAME_free(name);
    X509_free(certificate);
    EVP_PKEY_free(key);
    return result;
}
