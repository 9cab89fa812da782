/* cvmctl get NAME|ID [-o table|json|yaml]: one CVM with its spec, recorded
 * state, certificates and history. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"

static const char *cert_display_status(const cert_record_t *c) {
	if (c->status == CERT_REVOKED) return "revoked";
	if (c->not_after <= now_s()) return "expired";
	return c->status == CERT_SUPERSEDED ? "superseded" : "valid";
}

int cmd_get(int argc, char **argv) {
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
	int fmt = OUT_TABLE, c;
	/* Permute (no '+'): the NAME may come before its flags, as in
	 * `cvmctl get NAME -o json`. optind = 0 makes getopt start afresh. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if ((fmt = parse_output_format(optarg, false)) < 0) return EXIT_INVALID;
			break;
		case 'h': printf("usage: cvmctl get NAME|ID [-o table|json|yaml]\n"); return EXIT_OK;
		default: return usage_error("get", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1) return usage_error("get", "needs exactly one NAME or ID");

	store_t *st = NULL;
	int code = open_store_for_reading(&st);
	if (code) return code;
	cvm_record_t r = {0};
	if ((code = find_cvm_or_fail(st, argv[optind], &r))) {
		close_store(st);
		return code;
	}
	cvm_event_t *ev = NULL;
	size_t n_ev = 0;
	cert_record_t *certs = NULL;
	size_t n_certs = 0;
	if (store_list_events(st, r.id, &ev, &n_ev) < 0 || store_list_certs(st, r.id, &certs, &n_certs) < 0) {
		log_error("cannot read the state: %s", store_errmsg(st));
		code = EXIT_FAILED;
		goto out;
	}

	json_t *j = cvm_record_json(&r);
	json_t *spec = r.spec_json ? json_loads(r.spec_json, 0, NULL) : NULL;
	json_object_set_new(j, "spec", spec ? spec : json_null());
	json_object_set_new(j, "conditions", cvm_conditions_json(st, r.id));
	json_t *jc = json_array();
	for (size_t i = 0; i < n_certs; i++) {
		char nb[32], na[32];
		format_time(certs[i].not_before, nb, sizeof nb);
		format_time(certs[i].not_after, na, sizeof na);
		json_array_append_new(jc, json_pack("{s:s, s:s, s:s, s:s, s:b}", "serial", certs[i].serial, "notBefore", nb,
		                                    "notAfter", na, "status", cert_display_status(&certs[i]), "default",
		                                    certs[i].is_default));
	}
	json_object_set_new(j, "certificates", jc);
	json_t *jh = json_array();
	for (size_t i = 0; i < n_ev; i++) {
		char at[32];
		format_time(ev[i].at, at, sizeof at);
		json_array_append_new(jh, json_pack("{s:s, s:s, s:s}", "at", at, "event", ev[i].kind, "message",
		                                    ev[i].message ? ev[i].message : ""));
	}
	json_object_set_new(j, "history", jh);

	if (fmt == OUT_JSON) {
		_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2));
		printf("%s\n", s);
	} else {
		print_json_as_yaml(j);
	}
	json_decref(j);
out:
	cvm_events_free(ev, n_ev);
	cert_records_free(certs, n_certs);
	cvm_record_free(&r);
	close_store(st);
	return code;
}
