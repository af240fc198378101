// OpenSSL's libcrypto (Debian: libssl-dev), for the one RSA-OAEP parameter set swift-crypto does
// not offer: OAEP with SHA-256 and MGF1 with SHA-1 (Java's default provider).
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
