/* Fuzz target for `cvmctl ca import`'s parsing and checks
 * (pki_ca_import_check, the function pki_ca_import runs on the files'
 * text): any certificate and key text give a CA that passes or an error
 * sentence, never a crash, a leak or undefined behaviour. The input is the
 * certificate text, a NUL byte and the key text; without a NUL byte the
 * whole input is both (PEM readers skip the blocks they do not want). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	const char *cert = text, *key = text;
	size_t cert_len = size, key_len = size;
	if (nul) {
		cert_len = (size_t)(nul - text);
		key = nul + 1;
		key_len = size - cert_len - 1;
	}
	char *err = NULL;
	int r = pki_ca_import_check(cert, cert_len, key, key_len, &err);
	if (r < 0 && (!err || !*err)) __builtin_trap(); /* a refusal always says why */
	if (r == 0 && err) __builtin_trap();
	free(err);
	return 0;
}
