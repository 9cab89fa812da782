/* Azure credentials (reference/cloud-apis.md B1, B2): the client-credentials
 * grant at {authorityHost}/{tenant}/oauth2/v2.0/token with scope
 * {audience}/.default, proven by a client secret (from a file or the
 * environment), an RS256 client assertion signed with the client
 * certificate's key (x5t: the certificate's SHA-1 thumbprint), or a
 * federated token file taken as the assertion as it stands (workload
 * identity); or the managed identity's token from IMDS. Each ends in p->tok,
 * refreshed before it expires. Nothing here logs or returns a secret:
 * messages name files, variables and endpoints, never their contents. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/jwt.h"
#include "providers/azure/azure.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

static void secret_freep(char **s) {
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
	}
}
#define _cleanup_secret_ _cleanup_(secret_freep)

void az_cred_free(az_cred_t *c) {
	free(c->path);
	free(c->env);
	if (c->secret) explicit_bzero(c->secret, strlen(c->secret));
	free(c->secret);
	EVP_PKEY_free(c->key);
	free(c->x5t);
	memset(c, 0, sizeof *c);
}

/* A secret's file: a regular file of ours that nobody else may read. */
static int check_mode(const char *what, const char *path, char **err) {
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		*err = xasprintf("%s %s: %s", what, path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s %s is not a regular file", what, path);
		return -EINVAL;
	}
	if (st.st_uid != geteuid()) {
		*err = xasprintf("%s %s is owned by uid %u, not by this user (uid %u)", what, path, (unsigned)st.st_uid,
		                 (unsigned)geteuid());
		return -EPERM;
	}
	mode_t m = st.st_mode & 07777;
	if (m != 0600 && m != 0400) {
		*err = xasprintf("%s %s has mode %04o; it must be 0600 or 0400 (chmod 600 %s)", what, path, (unsigned)m, path);
		return -EPERM;
	}
	return 0;
}

static void trim(char *s, size_t *len) {
	while (*len && (s[*len - 1] == '\n' || s[*len - 1] == '\r' || s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		s[--*len] = 0;
}

/* The whole file, trailing white space cut; empty is an error. */
static int read_secret(const char *what, const char *path, char **out, char **err) {
	_cleanup_secret_ char *text = NULL;
	size_t len = 0;
	int r = read_file(path, &text, &len);
	if (r < 0) {
		*err = xasprintf("%s %s cannot be read: %s", what, path, strerror(-r));
		return r;
	}
	trim(text, &len);
	if (!len || strlen(text) != len) {
		*err = xasprintf("%s %s is empty or not text", what, path);
		return -EINVAL;
	}
	*out = TAKE_PTR(text);
	return 0;
}

/* The key and certificate of a PEM file holding both (any order). */
static int load_cert(az_cred_t *c, char **err) {
	int r = check_mode("client certificate file", c->path, err);
	if (r < 0) return r;
	_cleanup_secret_ char *pem = NULL;
	size_t len = 0;
	r = read_file(c->path, &pem, &len);
	if (r < 0) {
		*err = xasprintf("client certificate file %s cannot be read: %s", c->path, strerror(-r));
		return r;
	}
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	c->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!c->key || !x) {
		X509_free(x);
		*err = xasprintf("client certificate file %s must hold a PEM private key and its certificate", c->path);
		return -EINVAL;
	}
	if (EVP_PKEY_base_id(c->key) != EVP_PKEY_RSA || X509_check_private_key(x, c->key) != 1) {
		X509_free(x);
		*err = xasprintf("client certificate file %s: the key must be RSA and belong to the certificate", c->path);
		return -EINVAL;
	}
	unsigned char sha1[20];
	unsigned int n = sizeof sha1;
	X509_digest(x, EVP_sha1(), sha1, &n);
	X509_free(x);
	c->x5t = jwt_b64url(sha1, n);
	return 0;
}

int az_cred_load(provider_t *p, const json_t *s, char **err) {
	az_cred_t *c = &p->cred;
	const char *v;
	if ((v = json_string_value(json_object_get(s, "clientSecretFile")))) {
		c->kind = AZ_CRED_SECRET_FILE;
		c->path = xstrdup(v);
		int r = check_mode("client secret file", v, err);
		return r < 0 ? r : read_secret("client secret file", v, &c->secret, err);
	}
	if ((v = json_string_value(json_object_get(s, "clientSecretEnv")))) {
		c->kind = AZ_CRED_SECRET_ENV;
		c->env = xstrdup(v);
		const char *e = getenv(v);
		if (!e || !*e) {
			*err = xasprintf("the environment variable %s (clientSecretEnv) is not set", v);
			return -ENOENT;
		}
		c->secret = xstrdup(e);
		return 0;
	}
	if ((v = json_string_value(json_object_get(s, "clientCertificateFile")))) {
		c->kind = AZ_CRED_CERT;
		c->path = xstrdup(v);
		return load_cert(c, err);
	}
	if ((v = json_string_value(json_object_get(s, "federatedTokenFile")))) {
		/* Re-read for every token: a CI or a kubelet rotates it. */
		c->kind = AZ_CRED_FEDERATED;
		c->path = xstrdup(v);
		return 0;
	}
	c->kind = AZ_CRED_MANAGED;
	return 0;
}

char *az_client_assertion(const az_cred_t *c, const char *client_id, const char *aud, int64_t now_s, char **err) {
	if (!c->key || !c->x5t) {
		*err = xstrdup("no client certificate to sign with");
		return NULL;
	}
	unsigned char jti_raw[16];
	char jti[33];
	if (RAND_bytes(jti_raw, sizeof jti_raw) != 1) {
		*err = xstrdup("no random bytes for a client assertion");
		return NULL;
	}
	for (size_t i = 0; i < sizeof jti_raw; i++) snprintf(jti + 2 * i, 3, "%02x", jti_raw[i]);
	_cleanup_json_ json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "x5t", c->x5t);
	_cleanup_json_ json_t *claims =
	    json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", aud, "iss", client_id, "sub", client_id, "jti", jti,
	              "nbf", (json_int_t)(now_s - 10), "iat", (json_int_t)(now_s - 10), "exp", (json_int_t)(now_s + 600));
	char *jwt = jwt_sign_rs256(c->key, h, claims);
	if (!jwt) *err = xasprintf("cannot sign a client assertion with the key of %s", c->path);
	return jwt;
}

/* One token request; the token from its answer into p->tok. */
static int token_exchange(provider_t *p, const char *what, const char *url, const char *const *headers,
                          const char *body, const char *const *secrets, char **err) {
	http_req_t *r = http_submit(p->http, body ? "POST" : "GET", url, headers, body, body ? strlen(body) : 0);
	http_wait(p->http, r);
	long st = http_status(r);
	size_t len;
	const char *text = http_body(r, &len);
	_cleanup_json_ json_t *j = st ? json_loadb(text, len, 0, NULL) : NULL;
	int rc = 0;
	if (!st) {
		*err = xasprintf("%s: cannot reach %s: %s", what, url, http_transport_error(r));
		rc = -EHOSTUNREACH;
	} else if (st != 200) {
		const char *e = json_string_value(json_object_get(j, "error"));
		const char *d = json_string_value(json_object_get(j, "error_description"));
		_cleanup_free_ char *es = http_scrub(e ? e : "", e ? strlen(e) : 0, secrets, 100);
		_cleanup_free_ char *ds = http_scrub(d ? d : text, d ? strlen(d) : len, secrets, 300);
		/* AADSTS descriptions run on with trace ids: the first line is the sentence. */
		char *nl = strpbrk(ds, "\r\n");
		if (nl) *nl = 0;
		*err = xasprintf("%s: %s refused it: %ld%s%s%s%s", what, url, st, *es ? " " : "", es, *ds ? ": " : "", ds);
		rc = st == 401 || st == 403 || st == 400 ? -EACCES : -EIO;
	} else {
		const json_t *t = json_object_get(j, "access_token");
		const json_t *x = json_object_get(j, "expires_in");
		int64_t life = json_is_integer(x) ? (int64_t)json_integer_value(x)
		               : json_is_string(x) ? strtoll(json_string_value(x), NULL, 10)
		                                   : 3600;
		if (!json_is_string(t) || !json_string_length(t)) {
			*err = xasprintf("%s: %s answered without access_token", what, url);
			rc = -EPROTO;
		} else {
			token_set(&p->tok, xstrdup(json_string_value(t)), life);
		}
	}
	explicit_bzero((char *)text, len);
	http_req_free(r);
	return rc;
}

static const char *cred_words(const provider_t *p, char *buf, size_t n) {
	switch (p->cred.kind) {
	case AZ_CRED_SECRET_FILE: snprintf(buf, n, "client secret file %s", p->cred.path); break;
	case AZ_CRED_SECRET_ENV: snprintf(buf, n, "client secret in $%s", p->cred.env); break;
	case AZ_CRED_CERT: snprintf(buf, n, "client certificate %s", p->cred.path); break;
	case AZ_CRED_FEDERATED: snprintf(buf, n, "federated token file %s", p->cred.path); break;
	default: snprintf(buf, n, "managed identity"); break;
	}
	return buf;
}

static int token_client(provider_t *p, char **err) {
	_cleanup_free_ char *url = xasprintf("%s/%s/oauth2/v2.0/token", p->authority, p->tenant);
	_cleanup_free_ char *scope_raw = xasprintf("%s/.default", p->audience);
	_cleanup_free_ char *scope = http_escape(scope_raw), *cid = http_escape(p->client_id);
	_cleanup_secret_ char *proof = NULL, *assertion = NULL;
	char words[600];
	cred_words(p, words, sizeof words);
	_cleanup_free_ char *what = xasprintf("provider %s: the token request of client %s (%s)", p->name, p->client_id, words);
	switch (p->cred.kind) {
	case AZ_CRED_SECRET_FILE:
	case AZ_CRED_SECRET_ENV: {
		_cleanup_secret_ char *s = http_escape(p->cred.secret);
		proof = xasprintf("client_secret=%s", s);
		break;
	}
	case AZ_CRED_CERT:
	case AZ_CRED_FEDERATED: {
		if (p->cred.kind == AZ_CRED_CERT) {
			/* The server's clock judges nbf and exp: the wall clock. */
			assertion = az_client_assertion(&p->cred, p->client_id, url, (int64_t)time(NULL), err);
			if (!assertion) return -EINVAL;
		} else {
			int r = check_mode("federated token file", p->cred.path, err);
			if (r == -EPERM) {
				/* A projected token is often 0644: it is short-lived, not a key. */
				free(*err);
				*err = NULL;
			} else if (r < 0) {
				return r;
			}
			_cleanup_free_ char *e = NULL;
			r = read_secret("federated token file", p->cred.path, &assertion, &e);
			if (r < 0) {
				*err = xasprintf("provider %s: %s", p->name, e);
				return r;
			}
		}
		_cleanup_secret_ char *a = http_escape(assertion);
		proof = xasprintf("client_assertion_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer"
		                  "&client_assertion=%s",
		                  a);
		break;
	}
	default: return -EINVAL;
	}
	_cleanup_secret_ char *body =
	    xasprintf("grant_type=client_credentials&client_id=%s&scope=%s&%s", cid, scope, proof);
	static const char *const h[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
	                                NULL};
	const char *const secrets[] = {body, proof, assertion, p->cred.secret, NULL};
	return token_exchange(p, what, url, h, body, secrets, err);
}

static int token_managed(provider_t *p, char **err) {
	_cleanup_free_ char *res_raw = xasprintf("%s/", p->audience);
	_cleanup_free_ char *res = http_escape(res_raw);
	_cleanup_free_ char *cid = p->client_id ? http_escape(p->client_id) : NULL;
	_cleanup_free_ char *url = xasprintf("%s/metadata/identity/oauth2/token?api-version=%s&resource=%s%s%s", p->imds,
	                                     AZ_API_IMDS_TOKEN, res, cid ? "&client_id=" : "", cid ? cid : "");
	static const char *const h[] = {"Metadata: true", "Accept: application/json", NULL};
	_cleanup_free_ char *what = xasprintf("provider %s: the managed identity's token from %s", p->name, p->imds);
	return token_exchange(p, what, url, h, NULL, NULL, err);
}

const char *az_token(provider_t *p, char **err) {
	const char *t = token_get(&p->tok);
	if (t) return t;
	token_clear(&p->tok);
	int r = p->cred.kind == AZ_CRED_MANAGED ? token_managed(p, err) : token_client(p, err);
	return r < 0 ? NULL : p->tok.token;
}
