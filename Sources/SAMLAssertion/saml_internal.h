// Helpers shared by the assertion check (Apple SSO) and the SAML service provider's messages.
#ifndef TESSERA_SAML_INTERNAL_H
#define TESSERA_SAML_INTERNAL_H

#include <libxml/tree.h>

#define TESSERA_SAML_ASSERTION_NS BAD_CAST "urn:oasis:names:tc:SAML:2.0:assertion"
#define TESSERA_SAML_PROTOCOL_NS BAD_CAST "urn:oasis:names:tc:SAML:2.0:protocol"
#define TESSERA_SAML_METADATA_NS BAD_CAST "urn:oasis:names:tc:SAML:2.0:metadata"

/// Starts libxml2 and libxmlsec1 once; 0 when they run.
int tessera_saml_initialise(void);

/// Parses `xml` with no network and no entity substitution; NULL when it is not well-formed,
/// or declares a DTD (`*why` says which).
xmlDocPtr tessera_saml_parse(const char *xml, size_t xml_length, const char **why);

char *tessera_saml_content(xmlNodePtr node);
char *tessera_saml_property(xmlNodePtr node, const char *name);

/// Counts the elements named `name` in `ns` under `node`, `node` and its siblings included;
/// the first is put in `*found` when `found` is not NULL.
int tessera_saml_count(xmlNodePtr node, const xmlChar *name, const xmlChar *ns, xmlNodePtr *found);

/// The only child of `parent` named `name` in `ns`, or NULL (none, or more than one).
xmlNodePtr tessera_saml_only_child(xmlNodePtr parent, const xmlChar *name, const xmlChar *ns);

/// Registers `element`'s ID attribute as the document's ID and copies it into `*id`; NULL when
/// the element has none or the ID is taken already.
const char *tessera_saml_register_id(xmlDocPtr doc, xmlNodePtr element, char **id);

/// Verifies the enveloped ds:Signature child of `element` (there must be exactly one), whose
/// only reference must be "#`id`", with the key of `certificate_pem`: SAML's transforms only.
/// NULL when it verifies, else why not.
const char *tessera_saml_verify_enveloped(xmlNodePtr element, const char *id, const char *certificate_pem, size_t certificate_length);

#endif
