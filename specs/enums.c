/* The agent's log levels by name. */
#include <errno.h>
#include <string.h>

#include "common/cleanup.h"
#include "specs/spec.h"

const char *agent_log_level_name(enum agent_log_level l) {
	switch (l) {
	case AGENT_LOG_DEBUG: return "debug";
	case AGENT_LOG_INFO: return "info";
	case AGENT_LOG_WARN: return "warn";
	case AGENT_LOG_ERROR: return "error";
	}
	return "info";
}

int agent_log_level_from_name(const char *s, enum agent_log_level *out) {
	static const enum agent_log_level all[] = {AGENT_LOG_DEBUG, AGENT_LOG_INFO, AGENT_LOG_WARN, AGENT_LOG_ERROR};
	for (size_t i = 0; s && i < ARRAY_SIZE(all); i++)
		if (strcmp(s, agent_log_level_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -EINVAL;
}
