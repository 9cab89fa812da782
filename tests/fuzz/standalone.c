/* Replays fuzz inputs (files named on the command line) through the fuzz
 * target once each, printing TAP, so a corpus is a regression test in
 * `make check` without libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
	printf("1..%d\n", argc - 1);
	for (int i = 1; i < argc; i++) {
		char *buf = NULL;
		size_t len = 0;
		if (read_file(argv[i], &buf, &len) < 0) {
			printf("not ok %d - %s (unreadable)\n", i, argv[i]);
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		free(buf);
		printf("ok %d - %s\n", i, argv[i]);
	}
	return 0;
}
