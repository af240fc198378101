#ifndef TESSERA_SAML_MESSAGES_H
#define TESSERA_SAML_MESSAGES_H

#include <stddef.h>

/// One attribute value of an assertion (an attribute with several values gives several pairs).
typedef struct {
    char *name;
    char *value;
} tessera_saml_attribute;

/// What a SAML 2.0 protocol message says, each field a NUL-terminated copy or NULL when absent.
/// Lists (audiences, session indexes) are joined with '\n'.
typedef struct {
    char *error;
    /// The root element's local name: Response, LogoutRequest or LogoutResponse.
    char *root;
    char *id;
    char *issuer;
    char *destination;
    char *in_response_to;
    char *issue_instant;
    /// samlp:Status: the top-level StatusCode and the one nested in it.
    char *status;
    char *sub_status;
    /// A LogoutRequest's NotOnOrAfter.
    char *not_on_or_after;
    /// The NameID of a LogoutRequest, or of a Response's assertion.
    char *name_id;
    char *name_id_format;
    char *name_qualifier;
    char *sp_name_qualifier;
    /// A LogoutRequest's SessionIndex elements, or the assertion's AuthnStatement SessionIndex.
    char *session_indexes;
    /// 1 when the root element carried an enveloped signature and it verified.
    int root_signed;
    /// The Response's one assertion, whose signature verified (the fields above that belong to
    /// an assertion are read from it alone).
    char *assertion_id;
    char *assertion_issuer;
    char *conditions_not_before;
    char *conditions_not_on_or_after;
    char *audiences;
    char *recipient;
    char *subject_in_response_to;
    char *subject_not_on_or_after;
    char *session_not_on_or_after;
    tessera_saml_attribute *attributes;
    size_t attribute_count;
} tessera_saml_message;

/// A samlp:Response posted to the assertion consumer service. With a Success status: exactly one
/// saml:Assertion, a child of the Response, no EncryptedAssertion, signed by its own ID (an
/// enveloped signature, its only reference "#ID") with the key of `certificate_pem`; a signature on
/// the Response itself must reference the Response and verify too. Any other status: the status
/// and the Response's own attributes only (nothing else is trusted). Returns 0 when the message
/// verified (or carries a non-success status), -1 with `error` set otherwise.
int tessera_saml_read_response(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                               tessera_saml_message *out);

/// A samlp:LogoutRequest or samlp:LogoutResponse. With `certificate_pem`, the root must carry an
/// enveloped signature over itself that verifies with it (HTTP-POST binding); without, the
/// message is only read (HTTP-Redirect binding: the caller checks the query's signature).
int tessera_saml_read_logout(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                             tessera_saml_message *out);

void tessera_saml_message_free(tessera_saml_message *message);

/// An identity provider's metadata: its entity, its endpoints for the HTTP-Redirect binding, and
/// the signing certificates (base64 DER, joined with '\n').
typedef struct {
    char *error;
    char *entity_id;
    char *sso_redirect;
    char *slo_redirect;
    char *slo_redirect_response;
    char *certificates;
} tessera_saml_metadata;

/// Reads an md:EntityDescriptor (or the one of an md:EntitiesDescriptor whose entityID is
/// `entity_id`, or that alone has an IDPSSODescriptor when `entity_id` is NULL).
int tessera_saml_read_metadata(const char *xml, size_t xml_length, const char *entity_id, tessera_saml_metadata *out);

void tessera_saml_metadata_free(tessera_saml_metadata *metadata);

/// Verifies the HTTP-Redirect binding's signature: `signature` over the bytes `signed_text`
/// (`SAMLRequest=…&RelayState=…&SigAlg=…` as sent), RSA PKCS#1 v1.5 with SHA-256 (`sha512` 0) or
/// SHA-512, by the public key of `certificate_pem`. 0 when it verifies.
int tessera_saml_verify_query(const char *signed_text, size_t signed_length, const unsigned char *signature, size_t signature_length,
                              const char *certificate_pem, size_t certificate_length, int sha512);

/// A self-signed X.509 certificate (PEM, malloc'd into `*certificate_pem`) for the RSA key
/// `private_key_pem`, named CN=`common_name`, valid 2020-01-01 to 2060-01-01, so the same key
/// always gives the same certificate. 0 on success.
int tessera_saml_self_signed(const char *private_key_pem, size_t key_length, const char *common_name, char **certificate_pem);

#endif
