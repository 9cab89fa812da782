# cvmctl — one non-recursive Makefile.
#   make            build build/cvmctl
#   make demo       reconcile the examples against a private test-driver libvirtd
#   make check      sanitizer build (ASan + UBSan, crash-point hooks) and every test
#   make check-clang the unit tests built with clang (CI runs both)
#   make check-vm   (root) a real guest booted under QEMU through the manager backend
#   make check-sdk  the clouds' own SDKs against the emulators: Google's Node client (npm,
#                   into build/sdk), Microsoft's Python SDK (python3-azure)
#   make bench      benchmarks (tests/bench), ratios against baselines run alongside
#   make fuzz       fuzz each target (FUZZ_TARGET=NAME for one) with libFuzzer for FUZZ_SECONDS (60)
#   make install    PREFIX=/usr/local DESTDIR=
# Missing Debian packages are installed by scripts/deps.sh when run as root.

O ?= build
PREFIX ?= /usr/local
DESTDIR ?=

PKGS := yaml-0.1 libcurl jansson openssl libvirt sqlite3 libmicrohttpd
# Asked of pkg-config on first use, inside a recipe, never while the Makefile
# is parsed: on a fresh machine the .pc files arrive only when deps-checked
# (a prerequisite of every object) has run scripts/deps.sh.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wformat-security -Wvla -Wstrict-prototypes \
          -Wmissing-prototypes -fno-common -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -I. $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS) -linotifytools -lpthread

# SAN=1: the test build. Sanitizers stop at the first report, and the
# crash-point hooks (common/util.h) are compiled in.
ifeq ($(SAN),1)
CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DCVM_TEST_HOOKS
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRCS := $(sort $(wildcard common/*.c specs/*.c providers/*.c providers/*/*.c pki/*.c) \
              $(wildcard reconciler/*.c reconciler/store/*.c reconciler/store/*/*.c reconciler/daemon/*.c) \
              $(filter-out reconciler/cli/main.c,$(wildcard reconciler/cli/*.c)))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
# The fake backend (and the tests that need it) exist only in the test
# build: a cvmctl that ships has no in-memory cloud to mistake for a real one.
ifneq ($(SAN),1)
LIB_SRCS := $(filter-out providers/fake/%,$(LIB_SRCS))
UNIT_SRCS := $(filter-out tests/unit/test_fake.c,$(UNIT_SRCS))
endif
LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(LIB_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(patsubst tests/tools/%.c,$(O)/tests/tools/%,$(TOOL_SRCS))

all: $(O)/cvmctl

$(O)/%.o: %.c | deps-checked
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(O)/libcvm.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(O)/cvmctl: $(O)/reconciler/cli/main.o $(O)/libcvm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(O)/libcvm.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(O)/tests/tools/%: $(O)/tests/tools/%.o $(O)/libcvm.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Fuzz targets: replayed over their corpus by `make check` (standalone.c),
# fuzzed for real by `make fuzz` (clang's libFuzzer).
FUZZ_SRCS := $(filter-out tests/fuzz/standalone.c,$(sort $(wildcard tests/fuzz/*.c)))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/tests/fuzz/%,$(FUZZ_SRCS))

$(O)/tests/fuzz/%: $(O)/tests/fuzz/%.o $(O)/tests/fuzz/standalone.o $(O)/libcvm.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The emulators' shared glue (tests/emulators/common: libmicrohttpd set-up,
# ready files and signals, small helpers), linked into both emulators and
# nothing else: they share no code with providers/ (libcvm.a is not linked in).
EMU_COMMON_SRCS := $(sort $(wildcard tests/emulators/common/*.c))
EMU_COMMON_OBJS := $(patsubst %.c,$(O)/%.o,$(EMU_COMMON_SRCS))

# The Compute Engine emulator (tests/emulators/gce): its own program.
GCE_EMU_SRCS := $(sort $(wildcard tests/emulators/gce/*.c))
GCE_EMU_OBJS := $(patsubst %.c,$(O)/%.o,$(GCE_EMU_SRCS)) $(O)/tests/emulators/gce/schema_blob.o $(EMU_COMMON_OBJS)
GCE_EMU := $(O)/tests/emulators/gce-emu

$(O)/tests/emulators/gce/schema_blob.o: tests/emulators/gce/schema_blob.S tests/emulators/gce/compute-v1.schema.json | deps-checked
	@mkdir -p $(@D)
	$(CC) -c -o $@ $<

$(GCE_EMU): $(GCE_EMU_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)


# The Azure Resource Manager emulator (tests/emulators/arm): its own program.
# GnuTLS is libmicrohttpd's TLS (as Debian
# builds it) and checks client-certificate assertions.
ARM_EMU_SRCS := $(sort $(wildcard tests/emulators/arm/*.c))
ARM_EMU_OBJS := $(patsubst %.c,$(O)/%.o,$(ARM_EMU_SRCS)) $(O)/tests/emulators/arm/schema_blob.o
ARM_EMU_CFLAGS = $(eval ARM_EMU_CFLAGS := $(shell pkg-config --cflags gnutls))$(ARM_EMU_CFLAGS)
ARM_EMU_LIBS = $(eval ARM_EMU_LIBS := $(shell pkg-config --libs libmicrohttpd jansson gnutls))$(ARM_EMU_LIBS)
$(ARM_EMU_OBJS): CFLAGS += $(ARM_EMU_CFLAGS)
ARM_EMU_OBJS += $(EMU_COMMON_OBJS)

$(O)/tests/emulators/arm/schema_blob.o: tests/emulators/arm/schema_blob.S tests/emulators/arm/arm-compute-network.schema.json | deps-checked
	@mkdir -p $(@D)
	$(CC) -c -o $@ $<

$(O)/tests/emulators/arm-emu: $(ARM_EMU_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(ARM_EMU_LIBS) -lpthread

unit-bins: $(UNIT_BINS) $(TOOL_BINS) $(FUZZ_BINS) $(GCE_EMU) $(O)/tests/emulators/arm-emu

# make fuzz: every target for FUZZ_SECONDS each (FUZZ_TARGET=fuzz_plan picks
# one, or a list); what libFuzzer finds goes to build/fuzz/corpus/DIR, the
# seeds (replayed by make check) are tests/fuzz/corpus/DIR.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_specs fuzz_plan fuzz_ca_import
FUZZ_TARGET ?= $(FUZZ_TARGETS)
FUZZ_SRC_fuzz_specs = common/*.c specs/*.c $(wildcard providers/*/schema.c providers/*/size.c)
FUZZ_SRC_fuzz_plan = common/*.c reconciler/plan_file.c
FUZZ_SRC_fuzz_ca_import = common/*.c pki/*.c
FUZZ_CORPUS_fuzz_specs = specs
FUZZ_CORPUS_fuzz_plan = plan
FUZZ_CORPUS_fuzz_ca_import = ca
FUZZ_MAX_LEN_fuzz_specs = 16384
FUZZ_MAX_LEN_fuzz_plan = 65536
FUZZ_MAX_LEN_fuzz_ca_import = 16384

define fuzz_one
	@mkdir -p build/fuzz/corpus/$(FUZZ_CORPUS_$(1))
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=c11 -D_GNU_SOURCE -I. $(PKG_CFLAGS) \
		-o build/fuzz/$(1) tests/fuzz/$(1).c $(FUZZ_SRC_$(1)) $(PKG_LIBS)
	build/fuzz/$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN_$(1)) -timeout=5 \
		build/fuzz/corpus/$(FUZZ_CORPUS_$(1)) tests/fuzz/corpus/$(FUZZ_CORPUS_$(1))

endef

fuzz:
	@scripts/deps.sh --fuzz
	@for t in $(FUZZ_TARGET); do case " $(FUZZ_TARGETS) " in *" $$t "*) ;; \
		*) echo "make fuzz: FUZZ_TARGET $$t is not one of: $(FUZZ_TARGETS)" >&2; exit 2 ;; esac; done
	$(foreach t,$(filter $(FUZZ_TARGETS),$(FUZZ_TARGET)),$(call fuzz_one,$(t)))

# Installs (as root) or names (otherwise) the Debian packages the build,
# the tests and the demo need; a no-op once they are there.
deps-checked:
	@scripts/deps.sh

# `sudo make deps`: install everything the build, the tests and the demo need.
deps:
	scripts/deps.sh --test

check:
	@scripts/deps.sh --test
	$(MAKE) O=build/san SAN=1 build/san/cvmctl unit-bins
	tests/run-tests.sh build/san

# A real VM (tests/vm): a root libvirtd with the QEMU driver boots a guest
# under TCG. Its own target: it needs root and QEMU, and changes host-wide
# libvirt state (one such test at a time). The wall time is bounded: 180 s
# once QEMU's capabilities are cached, which the first run on a host does.
VM_TEST_TIMEOUT ?= 180
check-vm:
	@scripts/deps.sh --test --vm
	$(MAKE) O=build/san SAN=1 build/san/cvmctl unit-bins
	TEST_TIMEOUT=$(VM_TEST_TIMEOUT) tests/run-tests.sh build/san $(sort $(wildcard tests/vm/t[0-9]*.sh))

# The same tree built with clang (-Werror) and its unit tests run: two
# compilers see different mistakes.
check-clang:
	@scripts/deps.sh --test --clang
	$(MAKE) O=build/clang CC=clang SAN=1 unit-bins
	tests/run-tests.sh build/clang build/clang/tests/test_*

# The clouds' own SDKs against the emulators (tests/sdk): Google's Node
# client, installed from npm (pinned) into build/sdk, and Microsoft's Python
# SDK, Debian's python3-azure (~540 MB installed). Their own target, so that
# `make check` needs no network and stays small. A missing package there
# fails, it is never a skip.
SDK_NPM_PKGS ?= @google-cloud/compute@6.15.0
check-sdk:
	@scripts/deps.sh --test --sdk
	$(MAKE) O=build/san SAN=1 build/san/cvmctl unit-bins
	mkdir -p build/sdk
	cd build/sdk && npm install --prefer-offline --no-audit --no-fund --prefix . $(SDK_NPM_PKGS)
	tests/run-tests.sh build/san $(sort $(wildcard tests/sdk/t[0-9]*.sh))

demo: all $(GCE_EMU) $(O)/tests/emulators/arm-emu
	examples/demo.sh $(O)/cvmctl

bench: all
	tests/bench/run.sh $(O)/cvmctl

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(O)/cvmctl $(DESTDIR)$(PREFIX)/bin/cvmctl
	install -m 0644 doc/cvmctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/cvmctl.1

clean:
	rm -rf build

-include $(shell find $(O) -name '*.d' 2>/dev/null)

.SECONDARY:
.PHONY: all check check-clang check-sdk check-vm demo bench fuzz install clean deps deps-checked unit-bins
