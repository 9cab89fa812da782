/* The Microsoft identity platform side: the v2.0 token endpoint (client
 * secret, certificate assertion, federated assertion), the OpenID
 * configuration and instance discovery MSAL reads first, and the bearer
 * check of every Resource Manager call. Tokens are opaque JWT-shaped
 * strings the emulator remembers; they expire on emu_now(). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

static gnutls_x509_crt_t client_crt;

static void trim(char *s)
{
	s[strcspn(s, "\r\n")] = 0;
}

int auth_load(const char *secret_file, const char *cert_file, const char *federated_file)
{
	if (secret_file) {
		if (read_file(secret_file, &emu.client_secret, NULL) < 0) {
			fprintf(stderr, "arm-emu: cannot read the client secret file %s\n", secret_file);
			return -EIO;
		}
		trim(emu.client_secret);
	}
	if (federated_file) {
		if (read_file(federated_file, &emu.federated_token, NULL) < 0) {
			fprintf(stderr, "arm-emu: cannot read the federated token file %s\n", federated_file);
			return -EIO;
		}
		trim(emu.federated_token);
	}
	if (cert_file) {
		_cleanup_free_ char *pem = NULL;
		size_t len = 0;
		if (read_file(cert_file, &pem, &len) < 0) {
			fprintf(stderr, "arm-emu: cannot read the client certificate %s\n", cert_file);
			return -EIO;
		}
		gnutls_datum_t d = {.data = (unsigned char *)pem, .size = (unsigned)len};
		if (gnutls_x509_crt_init(&client_crt) < 0 || gnutls_x509_crt_import(client_crt, &d, GNUTLS_X509_FMT_PEM) < 0 ||
		    gnutls_pubkey_init(&emu.client_pub) < 0 || gnutls_pubkey_import_x509(emu.client_pub, client_crt, 0) < 0) {
			fprintf(stderr, "arm-emu: %s holds no X.509 certificate\n", cert_file);
			return -EINVAL;
		}
		unsigned char fp[32];
		size_t fl = sizeof(fp);
		if (gnutls_x509_crt_get_fingerprint(client_crt, GNUTLS_DIG_SHA1, fp, &fl) == 0) {
			_cleanup_free_ char *t = b64url_encode(fp, fl);
			snprintf(emu.client_x5t, sizeof(emu.client_x5t), "%s", t);
		}
		fl = sizeof(fp);
		if (gnutls_x509_crt_get_fingerprint(client_crt, GNUTLS_DIG_SHA256, fp, &fl) == 0) {
			_cleanup_free_ char *t = b64url_encode(fp, fl);
			snprintf(emu.client_x5t256, sizeof(emu.client_x5t256), "%s", t);
		}
	}
	return 0;
}

/* ---- tokens ---- */

static char *b64url_json(json_t *v)
{
	_cleanup_free_ char *s = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	return b64url_encode((const unsigned char *)s, strlen(s));
}

char *token_issue(void)
{
	long long now = emu_now();
	char oid[37], sig[65];
	random_guid(oid);
	random_hex(sig, 64);
	_cleanup_free_ char *iss = xasprintf("https://sts.windows.net/%s/", emu.tenant);
	_cleanup_free_ char *h = b64url_json(json_pack("{s:s,s:s,s:s}", "typ", "JWT", "alg", "RS256", "kid", "arm-emu"));
	_cleanup_free_ char *p = b64url_json(json_pack(
		"{s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s}", "aud", "https://management.azure.com/", "iss", iss, "iat",
		(json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)(now + emu.cfg.token_lifetime_s), "appid",
		emu.client_id, "tid", emu.tenant, "oid", oid, "sub", oid, "ver", "1.0"));
	_cleanup_free_ char *s = b64url_encode((const unsigned char *)sig, 64);
	struct token *t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->value = xasprintf("%s.%s.%s", h, p, s);
	t->expires = now + emu.cfg.token_lifetime_s;
	t->next = emu.tokens;
	emu.tokens = t;
	return xstrdup(t->value);
}

void tokens_expire_all(void)
{
	for (struct token *t = emu.tokens; t; t = t->next)
		t->expired = true;
}

static void aad_error(struct req *r, int status, const char *error, int code, const char *fmt, const char *arg)
{
	char ts[40], trace[37], corr[37];
	iso_time(ts, sizeof(ts), now_wall());
	ts[19] = 0; /* "2024-05-01T10:11:12" */
	ts[10] = ' ';
	_cleanup_free_ char *t = xasprintf("%sZ", ts);
	random_guid(trace);
	random_guid(corr);
	_cleanup_free_ char *desc0 = xasprintf(fmt, arg ? arg : "");
	_cleanup_free_ char *desc = xasprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", code, desc0,
					      trace, corr, t);
	reply_json(r, status,
		   json_pack("{s:s,s:s,s:[i],s:s,s:s,s:s,s:s}", "error", error, "error_description", desc, "error_codes",
			     code, "timestamp", t, "trace_id", trace, "correlation_id", corr, "error_uri",
			     "https://login.microsoftonline.com/error?code=0"));
}

/* ---- client assertions ---- */

/* 0 when ASSERTION is a JWT signed by the configured client certificate's
 * key for this token endpoint; else the AADSTS code of the failure. */
static int check_cert_assertion(const char *assertion, const char *token_url)
{
	if (!emu.client_pub)
		return 700027;
	const char *d1 = strchr(assertion, '.');
	const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d1 || !d2 || strchr(d2 + 1, '.'))
		return 50027;
	_cleanup_free_ char *hs = strndup(assertion, (size_t)(d1 - assertion));
	_cleanup_free_ char *ps = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
	size_t hl, pl, sl;
	_cleanup_free_ unsigned char *hj = b64_decode(hs, &hl, true);
	_cleanup_free_ unsigned char *pj = b64_decode(ps, &pl, true);
	_cleanup_free_ unsigned char *sig = b64_decode(d2 + 1, &sl, true);
	if (!hj || !pj || !sig)
		return 50027;
	_cleanup_(json_decrefp) json_t *hdr = json_loads((const char *)hj, 0, NULL);
	_cleanup_(json_decrefp) json_t *claims = json_loads((const char *)pj, 0, NULL);
	if (!json_is_object(hdr) || !json_is_object(claims))
		return 50027;
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	gnutls_sign_algorithm_t sa;
	if (alg && strcmp(alg, "RS256") == 0)
		sa = GNUTLS_SIGN_RSA_SHA256;
	else if (alg && strcmp(alg, "PS256") == 0)
		sa = GNUTLS_SIGN_RSA_PSS_RSAE_SHA256;
	else
		return 5002738;
	const char *x5t = json_string_value(json_object_get(hdr, "x5t"));
	const char *x5t256 = json_string_value(json_object_get(hdr, "x5t#S256"));
	/* MSAL writes x5t with base64 padding: compare without it */
	if ((x5t && strncmp(x5t, emu.client_x5t, strlen(emu.client_x5t)) != 0) ||
	    (x5t256 && strncmp(x5t256, emu.client_x5t256, strlen(emu.client_x5t256)) != 0) || (!x5t && !x5t256))
		return 700027;
	gnutls_datum_t data = {.data = (unsigned char *)assertion, .size = (unsigned)(d2 - assertion)};
	gnutls_datum_t sd = {.data = sig, .size = (unsigned)sl};
	if (gnutls_pubkey_verify_data2(emu.client_pub, sa, 0, &data, &sd) < 0)
		return 700027;
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	json_t *exp = json_object_get(claims, "exp");
	if (!aud || strcasecmp(aud, token_url) != 0)
		return 700212;
	if (!streqi(iss, emu.client_id) || !streqi(sub, emu.client_id))
		return 700023;
	if (!json_is_number(exp) || (long long)json_number_value(exp) < now_wall())
		return 700024;
	return 0;
}

static const char *cert_error_text(int code)
{
	switch (code) {
	case 50027: return "JWT token is invalid or malformed.";
	case 5002738: return "Invalid JWT token. The token is not signed with a supported algorithm.";
	case 700212: return "No matching federated identity record found for presented assertion audience.";
	case 700023: return "Client assertion audience claim does not match Realm issuer.";
	case 700024: return "Client assertion is not within its valid time range.";
	default: return "Client assertion failed signature validation.";
	}
}

/* ---- the token endpoint ---- */

static bool scope_ok(const char *scope)
{
	static const char *const ok[] = {
		"https://management.azure.com/.default",
		"https://management.azure.com//.default",
		"https://management.core.windows.net/.default",
		"https://management.core.windows.net//.default",
	};
	/* MSAL adds the OpenID scopes to what the caller asked for. */
	_cleanup_free_ char *s = xstrdup(scope);
	bool seen = false;
	for (char *save = NULL, *t = strtok_r(s, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (strcmp(t, "openid") == 0 || strcmp(t, "profile") == 0 || strcmp(t, "offline_access") == 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
			known |= strcasecmp(t, ok[i]) == 0;
		if (!known)
			return false;
		seen = true;
	}
	return seen;
}

/* HTTP Basic client authentication (RFC 6749 2.3.1): id and secret, each
 * form-encoded. */
static void basic_auth(struct req *r, char **id, char **secret)
{
	const char *h = req_header(r, "Authorization");
	if (!h || strncasecmp(h, "Basic ", 6) != 0)
		return;
	_cleanup_free_ unsigned char *dec = b64_decode(h + 6, NULL, false);
	if (!dec)
		return;
	char *colon = strchr((char *)dec, ':');
	if (!colon)
		return;
	*colon = 0;
	_cleanup_free_ char *f = xasprintf("i=%s&s=%s", (char *)dec, colon + 1);
	*id = form_value(f, "i");
	*secret = form_value(f, "s");
}

static void token_endpoint(struct req *r, const char *tenant)
{
	if (!streqi(tenant, emu.tenant)) {
		aad_error(r, 400, "invalid_request", 90002,
			  "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into "
			  "the correct cloud.", tenant);
		return;
	}
	_cleanup_free_ char *grant = form_value(r->body, "grant_type");
	_cleanup_free_ char *client_id = form_value(r->body, "client_id");
	_cleanup_free_ char *secret = form_value(r->body, "client_secret");
	_cleanup_free_ char *atype = form_value(r->body, "client_assertion_type");
	_cleanup_free_ char *assertion = form_value(r->body, "client_assertion");
	_cleanup_free_ char *scope = form_value(r->body, "scope");
	if (!client_id && !secret)
		basic_auth(r, &client_id, &secret);
	if (!grant) {
		aad_error(r, 400, "invalid_request", 900144,
			  "The request body must contain the following parameter: 'grant_type'.%s", NULL);
		return;
	}
	if (strcmp(grant, "client_credentials") != 0) {
		aad_error(r, 400, "unsupported_grant_type", 70003,
			  "The app requested an unsupported grant type '%s'.", grant);
		return;
	}
	if (!client_id) {
		aad_error(r, 400, "invalid_request", 900144,
			  "The request body must contain the following parameter: 'client_id'.%s", NULL);
		return;
	}
	if (!streqi(client_id, emu.client_id)) {
		aad_error(r, 400, "unauthorized_client", 700016,
			  "Application with identifier '%s' was not found in the directory. This can happen if the "
			  "application has not been installed by the administrator of the tenant.", client_id);
		return;
	}
	if (!scope) {
		aad_error(r, 400, "invalid_request", 900144,
			  "The request body must contain the following parameter: 'scope'.%s", NULL);
		return;
	}
	if (!scope_ok(scope)) {
		aad_error(r, 400, "invalid_scope", 1002012,
			  "The provided value for scope %s is not valid. Client credential flows must have a scope value "
			  "with /.default suffixed to the resource identifier (application ID URI).", scope);
		return;
	}
	if (assertion) {
		if (!atype || strcmp(atype, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") != 0) {
			aad_error(r, 400, "invalid_request", 50027,
				  "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.%s",
				  NULL);
			return;
		}
		if (emu.federated_token && strcmp(assertion, emu.federated_token) == 0)
			goto ok;
		_cleanup_free_ char *url = xasprintf("%s/%s/oauth2/v2.0/token", emu.base, tenant);
		int code = check_cert_assertion(assertion, url);
		if (code == 0)
			goto ok;
		if (emu.federated_token && !emu.client_pub) {
			aad_error(r, 400, "invalid_request", 70021,
				  "No matching federated identity record found for presented assertion.%s", NULL);
			return;
		}
		aad_error(r, 401, "invalid_client", code, "%s", cert_error_text(code));
		return;
	}
	if (!secret) {
		aad_error(r, 401, "invalid_client", 7000218,
			  "The request body must contain the following parameter: 'client_assertion' or "
			  "'client_secret'.%s", NULL);
		return;
	}
	if (!emu.client_secret || strcmp(secret, emu.client_secret) != 0) {
		aad_error(r, 401, "invalid_client", 7000215,
			  "Invalid client secret provided. Ensure the secret being sent in the request is the client "
			  "secret value, not the client secret ID, for a secret added to app '%s'.", emu.client_id);
		return;
	}
ok:;
	_cleanup_free_ char *tok = token_issue();
	int life = emu.cfg.token_lifetime_s;
	reply_json(r, 200, json_pack("{s:s,s:i,s:i,s:s}", "token_type", "Bearer", "expires_in", life, "ext_expires_in",
				     life, "access_token", tok));
	reply_header(r, "Cache-Control", "no-store, no-cache");
}

static void openid_configuration(struct req *r, const char *tenant)
{
	if (!streqi(tenant, emu.tenant) && strcasecmp(tenant, "common") != 0 &&
	    strcasecmp(tenant, "organizations") != 0) {
		reply_json(r, 400, json_pack("{s:s,s:s}", "error", "invalid_tenant", "error_description",
					     "AADSTS90002: Tenant not found."));
		return;
	}
	const char *b = emu.base;
	_cleanup_free_ char *te = xasprintf("%s/%s/oauth2/v2.0/token", b, tenant);
	_cleanup_free_ char *ae = xasprintf("%s/%s/oauth2/v2.0/authorize", b, tenant);
	_cleanup_free_ char *de = xasprintf("%s/%s/oauth2/v2.0/devicecode", b, tenant);
	_cleanup_free_ char *le = xasprintf("%s/%s/oauth2/v2.0/logout", b, tenant);
	_cleanup_free_ char *jw = xasprintf("%s/%s/discovery/v2.0/keys", b, tenant);
	_cleanup_free_ char *is = xasprintf("%s/%s/v2.0", b, emu.tenant);
	reply_json(r, 200,
		   json_pack("{s:s,s:[s,s,s],s:s,s:[s,s,s],s:[s],s:[s],s:[s],s:s,s:s,s:s,s:s,s:[s,s,s,s],s:s}",
			     "token_endpoint", te, "token_endpoint_auth_methods_supported", "client_secret_post",
			     "private_key_jwt", "client_secret_basic", "jwks_uri", jw, "response_modes_supported", "query",
			     "fragment", "form_post", "subject_types_supported", "pairwise",
			     "id_token_signing_alg_values_supported", "RS256", "response_types_supported", "code",
			     "end_session_endpoint", le, "issuer", is, "authorization_endpoint", ae,
			     "device_authorization_endpoint", de, "scopes_supported", "openid", "profile", "email",
			     "offline_access", "tenant_region_scope", "NA"));
}

static void instance_discovery(struct req *r)
{
	const char *host = emu.base + strlen("https://");
	_cleanup_free_ char *tde =
		xasprintf("%s/%s/v2.0/.well-known/openid-configuration", emu.base, emu.tenant);
	reply_json(r, 200, json_pack("{s:s,s:s,s:[{s:s,s:s,s:[s]}]}", "tenant_discovery_endpoint", tde, "api-version",
				     "1.1", "metadata", "preferred_network", host, "preferred_cache", host, "aliases",
				     host));
}

/* The identity platform's paths on the HTTPS port. */
bool auth_route(struct req *r)
{
	char seg[4][128];
	int n = 0;
	const char *p = r->path;
	while (*p == '/' && n < 4) {
		p++;
		size_t len = strcspn(p, "/");
		if (len == 0 || len >= sizeof(seg[0]))
			break;
		memcpy(seg[n], p, len);
		seg[n][len] = 0;
		n++;
		p += len;
	}
	bool token = n == 3 && strcasecmp(seg[1], "oauth2") == 0 && strcasecmp(seg[2], "token") == 0;
	bool token2 = n == 4 && strcasecmp(seg[1], "oauth2") == 0 && strcasecmp(seg[2], "v2.0") == 0 &&
		      strcasecmp(seg[3], "token") == 0 && !*p;
	bool oidc = n == 4 && strcasecmp(seg[1], "v2.0") == 0 && strcmp(seg[2], ".well-known") == 0 &&
		    strcmp(seg[3], "openid-configuration") == 0 && !*p;
	bool disco = n == 3 && strcasecmp(seg[1], "discovery") == 0 && strcmp(seg[2], "instance") == 0 && !*p;
	bool keys = n == 4 && strcasecmp(seg[1], "discovery") == 0 && strcmp(seg[3], "keys") == 0;
	bool endpoints = n == 2 && strcmp(seg[0], "metadata") == 0 && strcmp(seg[1], "endpoints") == 0;
	if (!token && !token2 && !oidc && !disco && !keys && !endpoints)
		return false;
	r->token = NULL;
	struct fault *f = fault_match(r);
	if (f) {
		fault_reply(r, f);
		return true;
	}
	log_request(r, req_arg(r, "api-version"));
	if (token2) {
		if (strcmp(r->method, "POST") != 0)
			aad_error(r, 400, "invalid_request", 900561,
				  "The endpoint only accepts POST requests. Received a %s request.", r->method);
		else
			token_endpoint(r, seg[0]);
	} else if (token) {
		aad_error(r, 400, "invalid_request", 900144,
			  "This emulator serves the v2.0 endpoint only (/%s/oauth2/v2.0/token).", seg[0]);
	} else if (oidc) {
		openid_configuration(r, seg[0]);
	} else if (disco) {
		instance_discovery(r);
	} else if (keys) {
		reply_json(r, 200, json_pack("{s:[]}", "keys"));
	} else {
		_cleanup_free_ char *login = xasprintf("%s/", emu.base);
		reply_json(r, 200,
			   json_pack("{s:s,s:s,s:{s:s,s:[s,s],s:s,s:s},s:s}", "name", "AzureCloud", "resourceManager",
				     login, "authentication", "loginEndpoint", login, "audiences",
				     "https://management.core.windows.net/", "https://management.azure.com/", "tenant",
				     "common", "identityProvider", "AAD", "microsoftGraphResourceId",
				     "https://graph.microsoft.com/"));
	}
	return true;
}

/* ---- the bearer check ---- */

bool auth_check_bearer(struct req *r)
{
	const char *h = req_header(r, "Authorization");
	_cleanup_free_ char *www = xasprintf("Bearer authorization_uri=\"%s/%s\", error=\"invalid_token\", "
					     "error_description=\"The authentication failed because of missing 'Authorization' header.\"",
					     emu.base, emu.tenant);
	if (!h) {
		r->token = "none";
		reply_header(r, "WWW-Authenticate", "%s", www);
		reply_error(r, 401, "AuthenticationFailed", NULL, "Authentication failed. The 'Authorization' header is missing.");
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
		r->token = "invalid";
		reply_header(r, "WWW-Authenticate", "%s", www);
		reply_error(r, 401, "AuthenticationFailed", NULL,
			    "Authentication failed. The 'Authorization' header is provided in an invalid format.");
		return false;
	}
	const char *v = h + 7;
	for (struct token *t = emu.tokens; t; t = t->next) {
		if (strcmp(t->value, v) != 0)
			continue;
		long long now = emu_now();
		if (t->expired || now >= t->expires) {
			r->token = "expired";
			char exp[40], cur[40];
			iso_time(exp, sizeof(exp), t->expired && t->expires > now ? now - 1 : t->expires);
			iso_time(cur, sizeof(cur), now);
			exp[19] = cur[19] = 0;
			reply_header(r, "WWW-Authenticate",
				     "Bearer authorization_uri=\"%s/%s\", error=\"invalid_token\", "
				     "error_description=\"The access token expiry UTC time '%s' is earlier than current UTC time '%s'.\"",
				     emu.base, emu.tenant, exp, cur);
			reply_error(r, 401, "ExpiredAuthenticationToken", NULL,
				    "The access token expiry UTC time '%s' is earlier than current UTC time '%s'.", exp, cur);
			return false;
		}
		r->token = "valid";
		return true;
	}
	r->token = "invalid";
	reply_header(r, "WWW-Authenticate", "Bearer authorization_uri=\"%s/%s\", error=\"invalid_token\", "
				"error_description=\"The access token is invalid.\"", emu.base, emu.tenant);
	reply_error(r, 401, "InvalidAuthenticationToken", NULL, "The access token is invalid.");
	return false;
}
