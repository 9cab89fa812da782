/* The manager backend: SEV-SNP QEMU hosts driven through libvirt. The
 * vtable itself is manager_provider_ops (providers/provider.h). */
#ifndef CVM_MANAGER_H
#define CVM_MANAGER_H

/* Process-wide libvirt setup, done once (thread-safe, idempotent):
 * ignores SIGPIPE unless a handler is already set (libvirt requires it: a
 * daemon dying under a call would otherwise kill the process), silences
 * libvirt's default error printer (errors are reported once, by
 * us, from virGetLastErrorMessage) and registers libvirt's default event
 * implementation, which client keepalive needs to detect dead hosts. Code
 * elsewhere that wants libvirt events must call this instead of
 * virEventRegisterDefaultImpl() itself (it must be registered only once). */
void manager_libvirt_init(void);

#ifdef CVM_TEST_HOOKS
/* Libvirt calls the backend made that reach a host (connections opened,
 * domain listings, metadata reads, address lookups, other calls), summed
 * over all hosts and providers; tests reset and compare them. */
typedef struct manager_test_calls {
	unsigned long connect, list, metadata, lease, other;
} manager_test_calls_t;
extern manager_test_calls_t manager_test_calls;
/* The schema's default of a manager setting (providers/manager/schema.c,
 * the one place each is written): NULL / 0 when it has none. */
const char *manager_default_str(const char *key);
int manager_default_int(const char *key);

#endif

/* The schema's default of a manager setting (providers/manager/schema.c,
 * the one place each is written): NULL / 0 when it has none. */
const char *manager_default_str(const char *key);
int manager_default_int(const char *key);

#endif
