/* cvmctl status [-o table|json]: the last pass (time, scope, result,
 * tree revision and content hash, its summary), the CVMs by status, and
 * each active CVM's conditions, from the state alone (no backend is
 * reached; `list --refresh` and `diff` observe live). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/exitcode.h"
#include "common/log.h"
#include "common/util.h"
#include "reconciler/cli/cli.h"

static const char *cond_of(const json_t *conds, const char *type) {
	size_t i;
	json_t *c;
	json_array_foreach(conds, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0)
			return json_string_value(json_object_get(c, "status"));
	}
	return "-";
}

static void print_text(const json_t *last, const json_t *by_status, const json_t *cvms) {
	if (json_is_object(last)) {
		char at[32];
		format_time(json_integer_value(json_object_get(last, "time")), at, sizeof at);
		const json_t *s = json_object_get(last, "summary");
		printf("Last pass: %s, scope %s, %s (exit %d)\n", at, json_string_value(json_object_get(last, "scope")),
		       json_string_value(json_object_get(last, "result")),
		       (int)json_integer_value(json_object_get(last, "exitCode")));
		const char *rev = json_string_value(json_object_get(last, "revision"));
		const char *hash = json_string_value(json_object_get(last, "contentHash"));
		printf("Tree: revision %s, content %s\n", rev ? rev : "-", hash ? hash : "-");
		printf("Summary: %d created, %d started, %d updated, %d replaced, %d deleted, %d up to date; %d failed, "
		       "%d unknown, %d refused\n",
		       (int)json_integer_value(json_object_get(s, "created")),
		       (int)json_integer_value(json_object_get(s, "started")),
		       (int)json_integer_value(json_object_get(s, "updated")),
		       (int)json_integer_value(json_object_get(s, "replaced")),
		       (int)json_integer_value(json_object_get(s, "deleted")),
		       (int)json_integer_value(json_object_get(s, "upToDate")),
		       (int)json_integer_value(json_object_get(s, "failed")),
		       (int)json_integer_value(json_object_get(s, "unknown")),
		       (int)json_integer_value(json_object_get(s, "refused")));
	} else {
		printf("Last pass: none recorded\n");
	}
	printf("CVMs:");
	const char *k;
	json_t *v;
	bool any = false;
	json_object_foreach((json_t *)by_status, k, v) {
		printf("%s %s %d", any ? "," : "", k, (int)json_integer_value(v));
		any = true;
	}
	printf("%s\n", any ? "" : " none");
	if (!json_array_size(cvms)) return;
	printf("\n%-24s %-36s %-9s %-8s %-8s %s\n", "NAME", "ID", "STATUS", "READY", "SYNCED", "CERTIFICATE");
	size_t i;
	json_array_foreach(cvms, i, v) {
		const json_t *c = json_object_get(v, "conditions");
		printf("%-24s %-36s %-9s %-8s %-8s %s\n", json_string_value(json_object_get(v, "name")),
		       json_string_value(json_object_get(v, "id")), json_string_value(json_object_get(v, "status")),
		       cond_of(c, "Ready"), cond_of(c, "Synced"), cond_of(c, "CertificateReady"));
	}
}

int cmd_status(int argc, char **argv) {
	static const struct option opts[] = {{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
	int fmt = OUT_TABLE, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if ((fmt = parse_output_format(optarg, false)) < 0) return EXIT_INVALID;
			break;
		case 'h': printf("usage: cvmctl status [-o table|json|yaml]\n"); return EXIT_OK;
		default: return usage_error("status", "unknown or incomplete flag '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) return usage_error("status", "unexpected argument '%s'", argv[optind]);

	store_t *st = NULL;
	int code = open_store_for_reading(&st);
	if (code) return code;
	cvm_record_t *v = NULL;
	size_t n = 0;
	_cleanup_free_ char *last_txt = NULL;
	int r = store_get_setting(st, "last-pass", &last_txt);
	if ((r < 0 && r != -ENOENT) || store_list_cvms(st, G.scope_given ? G.scope : NULL, &v, &n) < 0) {
		log_error("cannot read the state: %s", store_errmsg(st));
		close_store(st);
		return EXIT_FAILED;
	}
	json_t *last = last_txt ? json_loads(last_txt, 0, NULL) : NULL;
	json_t *by_status = json_object();
	json_t *cvms = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *sn = cvm_status_name(v[i].status);
		json_object_set_new(by_status, sn, json_integer(json_integer_value(json_object_get(by_status, sn)) + 1));
		if (v[i].status == ST_INACTIVE) continue;
		json_array_append_new(cvms, json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", v[i].name, "id", v[i].id,
		                                      "scope", v[i].scope, "status", sn, "conditions",
		                                      cvm_conditions_json(st, v[i].id)));
	}
	if (fmt == OUT_TABLE || fmt == OUT_WIDE) {
		print_text(last, by_status, cvms);
	} else {
		json_t *j = json_pack("{s:o, s:o, s:o}", "lastPass", last ? json_incref(last) : json_null(), "cvmsByStatus",
		                      by_status, "cvms", cvms);
		by_status = cvms = NULL;
		if (fmt == OUT_JSON) {
			_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2));
			printf("%s\n", s);
		} else {
			print_json_as_yaml(j);
		}
		json_decref(j);
	}
	json_decref(last);
	json_decref(by_status);
	json_decref(cvms);
	cvm_records_free(v, n);
	close_store(st);
	return EXIT_OK;
}
