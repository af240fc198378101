#ifndef TESSERA_SAML_ASSERTION_H
#define TESSERA_SAML_ASSERTION_H

#include <stddef.h>

/// What a verified SAML 2.0 assertion says, each a NUL-terminated copy (NULL when absent), and,
/// when verification failed, why (`error`, the other fields NULL).
typedef struct {
    char *error;
    char *assertion_id;
    char *issuer;
    char *name_id;
    char *audience;
    char *not_before;
    char *not_on_or_after;
} tessera_saml_assertion;

/// Verifies `xml` (a samlp:Response holding one saml:Assertion, or a bare saml:Assertion) with
/// libxmlsec1: the document has no DTD and exactly one assertion; that assertion carries an
/// enveloped ds:Signature whose single reference is the assertion's own ID; the signature verifies
/// with the public key of `certificate_pem` (an X.509 certificate) and no key the document names.
/// Returns 0 and fills `out` when it holds; else -1 with `out->error` set.
/// Free with tessera_saml_assertion_free.
int tessera_saml_assertion_verify(const char *xml, size_t xml_length, const char *certificate_pem, size_t certificate_length,
                                  tessera_saml_assertion *out);

void tessera_saml_assertion_free(tessera_saml_assertion *assertion);

#endif
