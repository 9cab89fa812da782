/* OAuth: the JWT-bearer grant at /token (RS256 verified against the
 * service-account keys given on the command line), a minimal STS token
 * exchange for external_account credentials, the GCE metadata server's
 * token, and the bearer check in front of every Compute call (issued
 * access tokens, or a self-signed JWT as Google accepts it). Token values
 * never reach the log or any answer other than the one issuing them. */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

#define JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define TOKEN_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"

/* Self-signed JWTs issued before this moment count as expired. */
static long long jwt_not_before_ms;

int sa_load(const char *path)
{
	_cleanup_free_ char *text = NULL;
	if (read_file(path, &text, NULL) < 0) {
		fprintf(stderr, "gce-emu: cannot read the service-account key %s\n", path);
		return -EINVAL;
	}
	json_error_t jerr;
	_cleanup_(json_decrefp) json_t *j = json_loads(text, 0, &jerr);
	const char *email = j ? json_string_value(json_object_get(j, "client_email")) : NULL;
	const char *kid = j ? json_string_value(json_object_get(j, "private_key_id")) : NULL;
	const char *pem = j ? json_string_value(json_object_get(j, "private_key")) : NULL;
	if (!email || !kid || !pem) {
		fprintf(stderr, "gce-emu: %s is not a service-account key (client_email, private_key_id, private_key)\n",
			path);
		return -EINVAL;
	}
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!pk) {
		fprintf(stderr, "gce-emu: the private_key in %s is not a PEM private key\n", path);
		return -EINVAL;
	}
	struct sa_key *nk = realloc(emu.keys, (emu.n_keys + 1) * sizeof(*nk));
	if (!nk)
		abort();
	emu.keys = nk;
	emu.keys[emu.n_keys++] = (struct sa_key){.email = xstrdup(email), .key_id = xstrdup(kid), .pub = pk};
	return 0;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/* base64url without padding (trailing '=' tolerated). */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
	while (n && s[n - 1] == '=')
		n--;
	unsigned char *out = malloc(n * 3 / 4 + 3);
	if (!out)
		abort();
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	out[o] = 0;
	*out_len = o;
	return out;
}

static json_t *b64url_json(const char *s, size_t n)
{
	size_t len;
	_cleanup_free_ unsigned char *raw = b64url_decode(s, n, &len);
	if (!raw)
		return NULL;
	json_t *j = json_loadb((const char *)raw, len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool verify_with(EVP_PKEY *pk, const char *signed_part, size_t n, const unsigned char *sig, size_t slen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
		  EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)signed_part, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Verifies an RS256 JWT signed by one of our service accounts. Returns its
 * claims, or NULL with *why set to the token endpoint's words. */
static json_t *jwt_verify(const char *jwt, const char **why)
{
	const char *d1 = strchr(jwt, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d1 || !d2 || strchr(d2 + 1, '.')) {
		*why = "Invalid JWT: the assertion is not header.claims.signature.";
		return NULL;
	}
	_cleanup_(json_decrefp) json_t *hdr = b64url_json(jwt, (size_t)(d1 - jwt));
	json_t *claims = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
	size_t slen = 0;
	_cleanup_free_ unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &slen);
	if (!hdr || !claims || !sig) {
		*why = "Invalid JWT: the header, claims or signature is not base64url JSON.";
		json_decref(claims);
		return NULL;
	}
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	if (!alg || strcmp(alg, "RS256") != 0) {
		*why = "Invalid JWT: only RS256 is supported.";
		json_decref(claims);
		return NULL;
	}
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	bool account = false;
	for (size_t i = 0; iss && i < emu.n_keys; i++) {
		if (strcmp(emu.keys[i].email, iss) != 0)
			continue;
		account = true;
		if (kid && strcmp(kid, emu.keys[i].key_id) != 0)
			continue;
		if (verify_with(emu.keys[i].pub, jwt, (size_t)(d2 - jwt), sig, slen))
			return claims;
	}
	*why = account ? "Invalid JWT Signature." : "Invalid grant: account not found";
	json_decref(claims);
	return NULL;
}

static bool times_ok(json_t *claims)
{
	json_t *iat = json_object_get(claims, "iat"), *exp = json_object_get(claims, "exp");
	if (!json_is_number(iat) || !json_is_number(exp))
		return false;
	long long i = (long long)json_number_value(iat), e = (long long)json_number_value(exp);
	long long now = now_wall_ms() / 1000;
	return e > i && e - i <= 3600 && e > now && i <= now + 300;
}

static void oauth_error(struct req *r, int status, const char *error, const char *desc)
{
	reply_json(r, status, json_pack("{s:s,s:s}", "error", error, "error_description", desc));
}

static void token_answer(struct req *r, const char *email, bool exchange)
{
	_cleanup_free_ char *tok = token_issue(email);
	json_t *v = json_pack("{s:s,s:i,s:s}", "access_token", tok, "expires_in", emu.cfg.token_lifetime_s,
			      "token_type", "Bearer");
	if (exchange)
		json_object_set_new(v, "issued_token_type",
				    json_string("urn:ietf:params:oauth:token-type:access_token"));
	reply_json(r, 200, v);
}

void oauth_token(struct req *r)
{
	if (strcmp(r->method, "POST") != 0) {
		oauth_error(r, 400, "invalid_request", "Invalid request method: the token endpoint takes POST.");
		return;
	}
	_cleanup_free_ char *grant = form_value(r->body, "grant_type");
	_cleanup_free_ char *assertion = form_value(r->body, "assertion");
	if (!grant) {
		oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type");
		return;
	}
	if (strcmp(grant, JWT_BEARER) != 0) {
		oauth_error(r, 400, "unsupported_grant_type", "Invalid grant_type: only the JWT bearer grant is served");
		return;
	}
	if (!assertion || !*assertion) {
		oauth_error(r, 400, "invalid_request", "Missing required parameter: assertion");
		return;
	}
	const char *why = NULL;
	_cleanup_(json_decrefp) json_t *claims = jwt_verify(assertion, &why);
	if (!claims) {
		oauth_error(r, 400, "invalid_grant", why);
		return;
	}
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	_cleanup_free_ char *ours = xasprintf("https://127.0.0.1:%d/token", emu.port);
	if (!aud || (strcmp(aud, ours) != 0 && strcmp(aud, GOOGLE_TOKEN_URL) != 0)) {
		oauth_error(r, 400, "invalid_grant", "Invalid JWT: Failed audience check.");
		return;
	}
	if (!times_ok(claims)) {
		oauth_error(r, 400, "invalid_grant",
			    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
			    "timeframe. Check your iat and exp values in the JWT claim.");
		return;
	}
	const char *scope = json_string_value(json_object_get(claims, "scope"));
	if (!scope || !*scope) {
		oauth_error(r, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
		return;
	}
	token_answer(r, json_string_value(json_object_get(claims, "iss")), false);
}

void oauth_sts(struct req *r)
{
	if (strcmp(r->method, "POST") != 0) {
		oauth_error(r, 400, "invalid_request", "Invalid request method: the token endpoint takes POST.");
		return;
	}
	_cleanup_free_ char *grant = form_value(r->body, "grant_type");
	_cleanup_free_ char *subject = form_value(r->body, "subject_token");
	_cleanup_free_ char *stype = form_value(r->body, "subject_token_type");
	_cleanup_free_ char *aud = form_value(r->body, "audience");
	if (!grant || strcmp(grant, TOKEN_EXCHANGE) != 0) {
		oauth_error(r, 400, "unsupported_grant_type", "Invalid grant_type.");
		return;
	}
	if (!aud || !*aud) {
		oauth_error(r, 400, "invalid_request", "Missing required parameter: audience");
		return;
	}
	if (!stype || (strcmp(stype, "urn:ietf:params:oauth:token-type:jwt") != 0 &&
		       strcmp(stype, "urn:ietf:params:oauth:token-type:id_token") != 0)) {
		oauth_error(r, 400, "invalid_request", "Invalid subject_token_type.");
		return;
	}
	if (!subject || !*subject || (emu.sts_subject_token && strcmp(subject, emu.sts_subject_token) != 0)) {
		oauth_error(r, 400, "invalid_grant", "The subject token is invalid.");
		return;
	}
	token_answer(r, "federated-principal", true);
}

void oauth_metadata_token(struct req *r)
{
	token_answer(r, emu.n_keys ? emu.keys[0].email : "default", false);
}

char *token_issue(const char *email)
{
	char hex[65];
	random_hex(hex, 64);
	struct token *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->value = xasprintf("ya29.emu-%s", hex);
	t->email = xstrdup(email);
	t->expires_ms = now_wall_ms() + (long long)emu.cfg.token_lifetime_s * 1000;
	t->next = emu.tokens;
	emu.tokens = t;
	return xstrdup(t->value);
}

void tokens_expire_all(void)
{
	for (struct token *t = emu.tokens; t; t = t->next)
		t->expires_ms = 0;
	jwt_not_before_ms = now_wall_ms();
}

static void auth_fail(struct req *r, bool missing)
{
	reply_header(r, "WWW-Authenticate", "Bearer realm=\"https://accounts.google.com/\"");
	const char *msg = missing ? "Request is missing required authentication credential. Expected OAuth 2 access "
				    "token, login cookie or other valid authentication credential. See "
				    "https://developers.google.com/identity/sign-in/web/devconsole-project."
				  : "Request had invalid authentication credentials. Expected OAuth 2 access token, "
				    "login cookie or other valid authentication credential. See "
				    "https://developers.google.com/identity/sign-in/web/devconsole-project.";
	json_t *v = json_pack("{s:{s:i,s:s,s:[{s:s,s:s,s:s,s:s,s:s}],s:s}}", "error", "code", 401, "message", msg,
			      "errors", "message", missing ? "Login Required." : "Invalid Credentials", "domain",
			      "global", "reason", missing ? "required" : "authError", "location", "Authorization",
			      "locationType", "header", "status", "UNAUTHENTICATED");
	reply_json(r, 401, v);
}

bool oauth_check_bearer(struct req *r)
{
	const char *h = req_header(r, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
		r->bearer = "none";
		auth_fail(r, true);
		return false;
	}
	const char *tok = h + 7;
	long long now = now_wall_ms();
	for (struct token *t = emu.tokens; t; t = t->next) {
		if (strcmp(t->value, tok) != 0)
			continue;
		if (t->expires_ms <= now) {
			r->bearer = "expired";
			auth_fail(r, false);
			return false;
		}
		r->bearer = "valid";
		snprintf(r->user, sizeof(r->user), "%s", t->email);
		return true;
	}
	/* A self-signed JWT (what Google's Node clients may send instead of
	 * exchanging it): our key's signature, iss = sub, a Compute audience or
	 * a scope, short-lived and current. */
	const char *why;
	_cleanup_(json_decrefp) json_t *claims = strchr(tok, '.') ? jwt_verify(tok, &why) : NULL;
	if (claims) {
		const char *iss = json_string_value(json_object_get(claims, "iss"));
		const char *sub = json_string_value(json_object_get(claims, "sub"));
		const char *aud = json_string_value(json_object_get(claims, "aud"));
		const char *scope = json_string_value(json_object_get(claims, "scope"));
		bool aud_ok = (aud && strncmp(aud, "https://compute.googleapis.com", 30) == 0) || (scope && *scope);
		json_t *iat = json_object_get(claims, "iat");
		if (!times_ok(claims) || (json_is_number(iat) && (json_number_value(iat) + 1) * 1000 <= jwt_not_before_ms)) {
			r->bearer = "expired";
			auth_fail(r, false);
			return false;
		}
		if (iss && (!sub || strcmp(iss, sub) == 0) && aud_ok) {
			r->bearer = "jwt";
			snprintf(r->user, sizeof(r->user), "%s", iss);
			return true;
		}
	}
	r->bearer = "invalid";
	auth_fail(r, false);
	return false;
}
