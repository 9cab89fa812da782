/* GCP credentials (reference/cloud-apis.md A1, A2): a service-account key
 * signs an RS256 JWT that the token endpoint trades for an access token; an
 * external_account file (workload identity federation) trades a subject
 * token read from a file at Google's STS, optionally impersonating a
 * service account; on GCP the metadata server hands out the attached
 * service account's token. Each kind ends in p->tok, refreshed before it
 * expires. Nothing here logs or returns a secret: messages name files and
 * endpoints, never their contents. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "providers/jwt.h"
#include "providers/gcp/gcp.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

/* Wipes a secret before freeing it. */
static void secret_freep(char **s) {
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
	}
}
#define _cleanup_secret_ _cleanup_(secret_freep)

void gcp_cred_free(gcp_cred_t *c) {
	free(c->path);
	free(c->client_email);
	free(c->key_id);
	free(c->token_uri);
	EVP_PKEY_free(c->key);
	free(c->audience);
	free(c->subject_token_type);
	free(c->sts_url);
	free(c->subject_file);
	free(c->subject_field);
	free(c->impersonation_url);
	memset(c, 0, sizeof *c);
}

static char *str_of(const json_t *o, const char *key) {
	const char *v = json_string_value(json_object_get(o, key));
	return v && *v ? xstrdup(v) : NULL;
}

/* A key file is a long-lived secret: only its owner may read it. */
static int check_mode(const char *path, char **err) {
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		*err = xasprintf("credentials file %s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("credentials file %s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_uid != geteuid()) {
		*err = xasprintf("credentials file %s is owned by uid %u, not by this user (uid %u)", path,
		                 (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	mode_t m = st.st_mode & 07777;
	if (m != 0600 && m != 0400) {
		*err = xasprintf("credentials file %s has mode %04o; it must be 0600 or 0400 (chmod 600 %s)", path,
		                 (unsigned)m, path);
		return -EPERM;
	}
	return 0;
}

static int load_service_account(const json_t *j, gcp_cred_t *c, char **err) {
	const char *pem = json_string_value(json_object_get(j, "private_key"));
	c->client_email = str_of(j, "client_email");
	c->key_id = str_of(j, "private_key_id");
	c->token_uri = str_of(j, "token_uri");
	if (!c->client_email || !pem || !*pem) {
		*err = xasprintf("credentials file %s: a service_account key needs client_email and private_key", c->path);
		return -EINVAL;
	}
	BIO *bio = BIO_new_mem_buf(pem, -1);
	c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!c->key || EVP_PKEY_get_base_id(c->key) != EVP_PKEY_RSA) {
		*err = xasprintf("credentials file %s: private_key is not a PEM RSA private key", c->path);
		return -EINVAL;
	}
	return 0;
}

static int load_external(const json_t *j, gcp_cred_t *c, char **err) {
	const json_t *src = json_object_get(j, "credential_source");
	const json_t *fmt = json_object_get(src, "format");
	c->audience = str_of(j, "audience");
	c->subject_token_type = str_of(j, "subject_token_type");
	c->sts_url = str_of(j, "token_url");
	c->impersonation_url = str_of(j, "service_account_impersonation_url");
	c->subject_file = str_of(src, "file");
	const char *ftype = json_string_value(json_object_get(fmt, "type"));
	if (ftype && strcmp(ftype, "json") == 0) {
		c->subject_field = str_of(fmt, "subject_token_field_name");
		if (!c->subject_field) {
			*err = xasprintf("credentials file %s: credential_source.format json needs subject_token_field_name",
			                 c->path);
			return -EINVAL;
		}
	} else if (ftype && strcmp(ftype, "text") != 0) {
		*err = xasprintf("credentials file %s: credential_source.format.type '%s' is not text or json", c->path,
		                 ftype);
		return -EINVAL;
	}
	if (!c->audience || !c->subject_token_type || !c->sts_url) {
		*err = xasprintf("credentials file %s: an external_account needs audience, subject_token_type and token_url",
		                 c->path);
		return -EINVAL;
	}
	if (!c->subject_file) {
		*err = xasprintf("credentials file %s: only a file credential_source is supported (credential_source.file)",
		                 c->path);
		return -EINVAL;
	}
	return 0;
}

int gcp_cred_load(const char *path, gcp_cred_t *c, char **err) {
	memset(c, 0, sizeof *c);
	c->path = xstrdup(path);
	int r = check_mode(path, err);
	if (r < 0) return r;
	_cleanup_secret_ char *text = NULL;
	size_t len = 0;
	r = read_file(path, &text, &len);
	if (r < 0) {
		*err = xasprintf("credentials file %s: %s", path, strerror(-r));
		return r;
	}
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(text, len, 0, &je);
	if (!json_is_object(j)) {
		/* je.text may quote the file: only the position is named. */
		*err = xasprintf("credentials file %s is not a JSON object (line %d, column %d)", path, je.line, je.column);
		return -EINVAL;
	}
	const char *type = json_string_value(json_object_get(j, "type"));
	if (type && strcmp(type, "service_account") == 0) {
		c->kind = GCP_CRED_SERVICE_ACCOUNT;
		r = load_service_account(j, c, err);
	} else if (type && strcmp(type, "external_account") == 0) {
		c->kind = GCP_CRED_EXTERNAL;
		r = load_external(j, c, err);
	} else {
		*err = xasprintf("credentials file %s: \"type\" must be service_account or external_account", path);
		r = -EINVAL;
	}
	/* The parsed key material is wiped with the JSON text. */
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v) if (json_is_string(v)) explicit_bzero((char *)json_string_value(v), json_string_length(v));
	return r;
}

/* ---- the JWT ---- */

char *gcp_jwt(const gcp_cred_t *c, const char *aud, const char *scope, int64_t now_s, char **err) {
	if (c->kind != GCP_CRED_SERVICE_ACCOUNT || !c->key) {
		*err = xstrdup("no service-account key to sign with");
		return NULL;
	}
	_cleanup_json_ json_t *h = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	if (c->key_id) json_object_set_new(h, "kid", json_string(c->key_id));
	/* Backdated for clock skew, as Google's libraries do; an hour at most. */
	int64_t iat = now_s - 10;
	_cleanup_json_ json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", c->client_email, "scope", scope,
	                                          "aud", aud, "iat", (json_int_t)iat, "exp", (json_int_t)(iat + 3600));
	char *jwt = jwt_sign_rs256(c->key, h, claims);
	if (!jwt) *err = xasprintf("cannot sign a JWT with the key of %s", c->path ? c->path : "the credentials file");
	return jwt;
}

/* ---- token requests ---- */

/* Posts a request to a token endpoint and takes the token from its answer
 * (field tok_field, lifetime in expires_in, number or string). */
static int token_exchange(provider_t *p, const char *what, const char *url, const char *const *headers,
                          const char *body, const char *tok_field, char **err) {
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
		const char *const secrets[] = {body, NULL};
		_cleanup_free_ char *es = http_scrub(e ? e : "", e ? strlen(e) : 0, secrets, 100);
		_cleanup_free_ char *ds = http_scrub(d ? d : text, d ? strlen(d) : len, secrets, 300);
		*err = xasprintf("%s: %s refused it: %ld%s%s%s%s", what, url, st, *es ? " " : "", es, *ds ? ": " : "", ds);
		rc = st == 401 || st == 403 || st == 400 ? -EACCES : -EIO;
	} else {
		const json_t *t = json_object_get(j, tok_field);
		const json_t *x = json_object_get(j, "expires_in");
		int64_t life = json_is_integer(x) ? (int64_t)json_integer_value(x)
		               : json_is_string(x) ? strtoll(json_string_value(x), NULL, 10)
		                                   : 3600;
		if (!json_is_string(t) || !json_string_length(t)) {
			*err = xasprintf("%s: %s answered without %s", what, url, tok_field);
			rc = -EPROTO;
		} else {
			token_set(&p->tok, xstrdup(json_string_value(t)), life);
		}
	}
	/* The answer holds the token: gone from memory with the request. */
	explicit_bzero((char *)text, len);
	http_req_free(r);
	return rc;
}

static int token_service_account(provider_t *p, char **err) {
	const char *url = p->token_uri ? p->token_uri : p->cred.token_uri ? p->cred.token_uri : GCP_DEFAULT_TOKEN_URI;
	/* The server's clock judges iat and exp: the wall clock, never a
	 * test's CVMCTL_TEST_NOW. */
	_cleanup_secret_ char *jwt = gcp_jwt(&p->cred, url, GCP_SCOPE, (int64_t)time(NULL), err);
	if (!jwt) return -EINVAL;
	_cleanup_secret_ char *body =
	    xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s", jwt);
	static const char *const h[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
	                                NULL};
	_cleanup_free_ char *what =
	    xasprintf("provider %s: the token request for %s (credentials file %s)", p->name, p->cred.client_email, p->cred.path);
	return token_exchange(p, what, url, h, body, "access_token", err);
}

static int read_subject_token(const gcp_cred_t *c, char **out, char **err) {
	_cleanup_secret_ char *text = NULL;
	size_t len = 0;
	int r = read_file(c->subject_file, &text, &len);
	if (r < 0) {
		*err = xasprintf("external_account %s: cannot read the subject token file %s: %s", c->path, c->subject_file,
		                 strerror(-r));
		return r;
	}
	if (c->subject_field) {
		_cleanup_json_ json_t *j = json_loadb(text, len, 0, NULL);
		const char *v = json_string_value(json_object_get(j, c->subject_field));
		if (!v || !*v) {
			*err = xasprintf("external_account %s: %s holds no JSON field %s", c->path, c->subject_file,
			                 c->subject_field);
			return -EINVAL;
		}
		*out = xstrdup(v);
		explicit_bzero((char *)v, strlen(v));
		return 0;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) text[--len] = 0;
	if (!len) {
		*err = xasprintf("external_account %s: the subject token file %s is empty", c->path, c->subject_file);
		return -EINVAL;
	}
	*out = xstrdup(text);
	return 0;
}

static int token_external(provider_t *p, char **err) {
	const gcp_cred_t *c = &p->cred;
	_cleanup_secret_ char *subject = NULL;
	int r = read_subject_token(c, &subject, err);
	if (r < 0) return r;
	_cleanup_free_ char *aud = http_escape(c->audience), *type = http_escape(c->subject_token_type);
	_cleanup_free_ char *scope = http_escape(GCP_SCOPE);
	_cleanup_secret_ char *subj = http_escape(subject);
	_cleanup_secret_ char *body =
	    xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange&audience=%s&scope=%s"
	              "&requested_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Aaccess_token"
	              "&subject_token=%s&subject_token_type=%s",
	              aud, scope, subj, type);
	static const char *const h[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
	                                NULL};
	const char *url = p->token_uri ? p->token_uri : c->sts_url;
	_cleanup_free_ char *what =
	    xasprintf("provider %s: the token exchange of external_account %s", p->name, c->path);
	r = token_exchange(p, what, url, h, body, "access_token", err);
	if (r < 0 || !c->impersonation_url) return r;

	/* The federated token is traded once more for the service account's. */
	_cleanup_secret_ char *auth = xasprintf("Authorization: Bearer %s", p->tok.token);
	const char *const h2[] = {"Content-Type: application/json", "Accept: application/json", auth, NULL};
	_cleanup_free_ char *req = xasprintf("{\"scope\":[\"%s\"],\"lifetime\":\"3600s\"}", GCP_SCOPE);
	_cleanup_free_ char *what2 = xasprintf("provider %s: the service-account impersonation of external_account %s",
	                                       p->name, c->path);
	token_clear(&p->tok);
	r = token_exchange(p, what2, c->impersonation_url, h2, req, "accessToken", err);
	return r;
}

static int token_metadata(provider_t *p, char **err) {
	const char *host = getenv("GCE_METADATA_HOST");
	_cleanup_free_ char *url = xasprintf("http://%s/computeMetadata/v1/instance/service-accounts/default/token",
	                                     host && *host ? host : GCP_METADATA_HOST);
	static const char *const h[] = {"Metadata-Flavor: Google", NULL};
	_cleanup_free_ char *what = xasprintf("provider %s: the metadata server's token", p->name);
	return token_exchange(p, what, url, h, NULL, "access_token", err);
}

const char *gcp_token(provider_t *p, char **err) {
	const char *t = token_get(&p->tok);
	if (t) return t;
	token_clear(&p->tok);
	int r;
	switch (p->cred.kind) {
	case GCP_CRED_SERVICE_ACCOUNT: r = token_service_account(p, err); break;
	case GCP_CRED_EXTERNAL: r = token_external(p, err); break;
	default: r = token_metadata(p, err); break;
	}
	return r < 0 ? NULL : p->tok.token;
}
