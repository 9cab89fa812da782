/* JWTs signed with RS256 (RFC 7515, 7519), for the clouds' token requests:
 * Google's service-account grant and Azure's client assertion. */
#ifndef CVM_PROVIDERS_JWT_H
#define CVM_PROVIDERS_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <openssl/evp.h>

/* base64url without padding; never fails. */
char *jwt_b64url(const unsigned char *d, size_t n);

/* header.claims.signature, each part base64url of compact JSON in the
 * objects' order; NULL when the key cannot sign (RSA keys only for RS256). */
char *jwt_sign_rs256(EVP_PKEY *key, const json_t *header, const json_t *claims);

#endif
