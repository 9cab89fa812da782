/* The backends' size rules, as their schemas expose them (size_name,
 * check_size, the vCPU limits and default memory): the GCP N2D machine
 * types and the Azure DCasv5 sizes (reference/cloud-apis.md A11, B11), and
 * the manager's memory ceiling. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "providers/provider.h"

static void test_gcp_machine_types(void **state) {
	(void)state;
	static const struct {
		int vcpus, mem;
		const char *want; /* NULL: no N2D type */
	} gcp[] = {
		{2, 8, "n2d-standard-2"},     {224, 896, "n2d-standard-224"}, {4, 32, "n2d-highmem-4"},
		{96, 768, "n2d-highmem-96"},  {128, 1024, NULL},              {224, 224, "n2d-highcpu-224"},
		{8, 4, "n2d-custom-8-4096"},  {8, 3, NULL},                   {8, 64, "n2d-highmem-8"},
		{8, 65, NULL},                {6, 24, NULL},                  {128, 200, NULL},
		{3, 6, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(gcp); i++) {
		_cleanup_free_ char *got = gcp_schema.size_name(gcp[i].vcpus, gcp[i].mem);
		if (!gcp[i].want) {
			if (got) fail_msg("%d/%d: got %s, want none", gcp[i].vcpus, gcp[i].mem, got);
		} else if (!got || strcmp(got, gcp[i].want)) {
			fail_msg("%d/%d: got %s, want %s", gcp[i].vcpus, gcp[i].mem, got ? got : "none", gcp[i].want);
		}
		/* check_size accepts exactly what has a name */
		const char *field;
		char msg[256];
		int r = gcp_schema.check_size(gcp[i].vcpus, gcp[i].mem, &field, msg, sizeof msg);
		if ((r == 0) != (gcp[i].want != NULL)) fail_msg("%d/%d: check_size %d (%s)", gcp[i].vcpus, gcp[i].mem, r, msg);
	}
}

static void test_azure_vm_sizes(void **state) {
	(void)state;
	_cleanup_free_ char *big = azure_schema.size_name(96, 384);
	assert_string_equal(big, "Standard_DC96as_v5");
	assert_null(azure_schema.size_name(8, 16));
	assert_null(azure_schema.size_name(128, 512));
}

static void test_check_size_messages(void **state) {
	(void)state;
	const char *field;
	char msg[256];
	assert_int_equal(gcp_schema.check_size(6, 24, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "vcpus");
	assert_string_equal(msg, "vcpus 6 is not an N2D machine size (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)");
	assert_int_equal(gcp_schema.check_size(8, 100, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "memoryGiB");
	assert_string_equal(msg, "no N2D machine type has 8 vCPUs and 100 GiB (GiB allowed: standard 32, highmem 64, highcpu 8, "
	                         "custom 4-64)");
	assert_int_equal(gcp_schema.check_size(224, 1000, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(msg, "memoryGiB 1000 is above the gcp maximum of 896");
	assert_int_equal(azure_schema.check_size(8, 16, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "memoryGiB");
	assert_int_equal(azure_schema.check_size(6, 24, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(field, "vcpus");
	assert_int_equal(manager_schema.check_size(64, 30, &field, msg, sizeof msg), 0);
	assert_int_equal(manager_schema.check_size(8, 31, &field, msg, sizeof msg), -EINVAL);
	assert_string_equal(msg, "memoryGiB 31 is above the manager maximum of 30");
}

/* Every default is itself a valid size, within the schema's own limits. */
static void test_defaults_are_valid(void **state) {
	(void)state;
	size_t n;
	const provider_backend_t *const *all = provider_backends(&n);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++) {
		const backend_schema_t *b = all[i]->schema;
		int v = b->default_vcpus, m = b->default_memory_gib(v);
		assert_true(b->min_vcpus <= v && v <= b->max_vcpus);
		const char *field;
		char msg[256] = "";
		if (b->check_size && b->check_size(v, m, &field, msg, sizeof msg) < 0) fail_msg("%s: %s", b->flavor, msg);
		assert_ptr_equal(provider_schema_for(b->flavor), b);
	}
	assert_null(provider_schema_for("aws"));
}

int main(void) {
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcp_machine_types),
		cmocka_unit_test(test_azure_vm_sizes),
		cmocka_unit_test(test_check_size_messages),
		cmocka_unit_test(test_defaults_are_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
