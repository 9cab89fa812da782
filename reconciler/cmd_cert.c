/* cvmctl cert ...: see issue 3; filled in with the pki module. */
#include "common/exitcode.h"
#include "reconciler/cli.h"

int cmd_cert(int argc, char **argv) {
	(void)argc;
	(void)argv;
	return usage_error("cert", "certificate commands are not available in this build yet");
}
