/* RS256 JWTs shared by the gcp and azure credentials. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/jwt.h"

char *jwt_b64url(const unsigned char *d, size_t n) {
	char *s = xmalloc(4 * ((n + 2) / 3) + 1);
	int len = EVP_EncodeBlock((unsigned char *)s, d, (int)n);
	while (len > 0 && s[len - 1] == '=') len--;
	s[len] = 0;
	for (char *c = s; *c; c++)
		if (*c == '+') *c = '-';
		else if (*c == '/') *c = '_';
	return s;
}

static char *b64url_json(const json_t *j) {
	_cleanup_free_ char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	return jwt_b64url((const unsigned char *)t, strlen(t));
}

char *jwt_sign_rs256(EVP_PKEY *key, const json_t *header, const json_t *claims) {
	_cleanup_free_ char *hb = b64url_json(header), *cb = b64url_json(claims);
	_cleanup_free_ char *input = xasprintf("%s.%s", hb, cb);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	          EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) == 1 &&
	          (sig = xmalloc(siglen)) &&
	          EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) == 1;
	EVP_MD_CTX_free(md);
	if (!ok) {
		free(sig);
		return NULL;
	}
	_cleanup_free_ char *sb = jwt_b64url(sig, siglen);
	free(sig);
	return xasprintf("%s.%s", input, sb);
}
