# SPDX-License-Identifier: MIT
#
# ecr-deployd build. GNU make, pkg-config. `make help` lists the targets.
# SANITIZE=1 builds everything under build/sanitize with ASan and UBSan, so
# the two builds never mix. CI=true (or WERROR=1) turns warnings into errors.

VERSION := 0.1.0

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/ecr-deployd
DOCDIR     ?= $(PREFIX)/share/doc/ecr-deployd
UNITDIR    ?= $(PREFIX)/lib/systemd/system
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR ?= /etc
DESTDIR    ?=
PYTHON  := /usr/bin/python3
SHELL   := /bin/bash

ifeq ($(SANITIZE),1)
B        := build/sanitize
# gcc's `undefined` leaves out the float checks: a float -> integer conversion out of range is
# undefined behaviour in C, and a division by zero in float is a bug here even where IEEE defines it.
OPTFLAGS := -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined,float-cast-overflow,float-divide-by-zero -fno-sanitize-recover=all
else
B        := build
OPTFLAGS := -O2 -g -D_FORTIFY_SOURCE=2
endif

PKGS     := libcurl libcrypto libsystemd libcjson
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wcast-qual
ifneq ($(filter true 1,$(CI) $(WERROR)),)
WARNINGS += -Werror
endif

# Deferred (=) so that a first `make check` can install the packages before
# pkg-config is asked about them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev

CPPFLAGS += -D_GNU_SOURCE -Icommon -Iconfig -Isystemd -I$(B)/gen
CFLAGS   ?=
CFLAGS   += -std=gnu11 $(OPTFLAGS) $(WARNINGS) -fstack-protector-strong -MMD -MP $(PKG_CFLAGS)
LDFLAGS  += $(filter -fsanitize=%,$(OPTFLAGS)) -Wl,--as-needed -Wl,-z,relro,-z,now

COMMON_SRC := $(sort $(wildcard common/*.c))
CONFIG_SRC := $(sort $(wildcard config/*.c))
SYSTEMD_SRC := $(sort $(wildcard systemd/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/*.c))

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o) $(CONFIG_SRC:%.c=$(B)/obj/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(B)/obj/%.o) $(SYSTEMD_SRC:%.c=$(B)/obj/%.o)
# The daemon's modules without main(), for the unit tests.
DAEMON_LIB_OBJ := $(filter-out $(B)/obj/daemon/main.o,$(DAEMON_OBJ))
UNIT_OBJ   := $(UNIT_SRC:%.c=$(B)/obj/%.o)

BIN  := $(B)/ecr-deployd
UNIT := $(B)/unit-tests
# ecr-deployctl, the operator's client: its own sources and, from common/, only the modules it
# uses (an archive lets the linker pick them), with cJSON; none of the daemon's objects.
CTL     := $(B)/ecr-deployctl
CTL_SRC := $(sort $(wildcard daemon/ctl/*.c))
CTL_OBJ := $(CTL_SRC:%.c=$(B)/obj/%.o)
# The client's modules without main(), for the unit tests and the fuzz targets.
CTL_LIB_OBJ := $(filter-out $(B)/obj/daemon/ctl/ecr-deployctl.o,$(CTL_OBJ))
COMMON_LIB := $(B)/libcommon.a
CTL_LIBS = $(shell pkg-config --libs libcjson 2>/dev/null) -lm
# One libFuzzer target per parser of outside bytes: tests/fuzz/fuzz_NAME.c, its corpus in
# tests/fuzz/corpus/NAME. Under gcc each is linked with tests/fuzz/replay.c into
# $(B)/fuzz-replay/NAME, which `make check` runs over the committed corpus.
FUZZ_NAMES := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(B)/fuzz-replay/%)
TOOLS := $(B)/awscall $(B)/leasecall $(B)/httpfloor $(B)/statebench $(FUZZ_REPLAY)

GIT_REV := $(shell [ "$$(git -C . rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ] && \
		git describe --always --dirty --abbrev=12 2>/dev/null)

.SECONDARY:

.PHONY: all check deps tests demo bench install uninstall lint format clean help fuzz FORCE

all: $(BIN) $(CTL)

help:
	@echo "make              build $(BIN) and $(CTL)"
	@echo "make check        install missing packages (as root), build, run every test"
	@echo "make check SANITIZE=1   the same under ASan+UBSan in build/sanitize"
	@echo "make demo         the daemon's job end to end against the bundled simulator"
	@echo "make bench        figures at 1,000 repositories x 10 tags as ratios to a same-run floor: CPU, memory, state writes, TLS, push events, control socket (prints, asserts nothing)"
	@echo "make install      install under DESTDIR/PREFIX (default $(PREFIX))"
	@echo "make lint         cppcheck, the banned-function check, clang-format --dry-run"
	@echo "make fuzz         run every libFuzzer target (clang) FUZZ_SECONDS=60 FUZZ_TARGETS=..."
	@echo "make format       clang-format every C file"
	@echo "make clean        remove build/"

$(B)/.libs-ok:
	@mkdir -p $(@D)
	@pkg-config --exists $(PKGS) && [ -f /usr/include/ev.h ] || { \
		echo "missing build packages; as root run: bash scripts/install-deps" >&2; exit 1; }
	@touch $@

$(B)/gen/version.h: FORCE
	@mkdir -p $(@D)
	@printf '#define ECR_DEPLOYD_VERSION "%s"\n#define ECR_DEPLOYD_REVISION "%s"\n' \
		'$(VERSION)' '$(GIT_REV)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(B)/obj/%.o: %.c | $(B)/.libs-ok
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/obj/daemon/main.o $(B)/obj/daemon/daemon.o $(B)/obj/daemon/cmd_target.o $(B)/obj/daemon/metrics.o $(B)/obj/daemon/outbox.o: $(B)/gen/version.h
$(CTL_OBJ): $(B)/gen/version.h
$(CTL_OBJ): CPPFLAGS += -Idaemon/ctl

$(COMMON_LIB): $(COMMON_SRC:%.c=$(B)/obj/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(CTL): $(CTL_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CTL_LIBS)

$(BIN): $(DAEMON_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(UNIT): $(UNIT_OBJ) $(DAEMON_LIB_OBJ) $(CTL_LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(UNIT_OBJ): CPPFLAGS += -Itests/unit -Idaemon -Idaemon/ctl

$(B)/awscall: $(B)/obj/tests/tools/awscall.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# One HA lease instance (daemon/lease + daemon/ddb) on its own, for tests/integration/test_lease.py.
$(B)/leasecall: $(B)/obj/tests/tools/leasecall.o $(DAEMON_LIB_OBJ) $(CTL_LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/obj/tests/tools/leasecall.o: CPPFLAGS += -Idaemon

$(B)/httpfloor: $(B)/obj/tests/bench/httpfloor.o $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The cost of one state change made durable, through daemon/state.h only (make bench).
$(B)/statebench: $(B)/obj/tests/bench/statebench.o $(DAEMON_LIB_OBJ) $(CTL_LIB_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/obj/tests/bench/statebench.o: CPPFLAGS += -Idaemon

$(B)/fuzz-replay/%: $(B)/obj/tests/fuzz/replay.o $(B)/obj/tests/fuzz/fuzz_%.o $(DAEMON_LIB_OBJ) $(CTL_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(B)/obj/tests/fuzz/%.o: CPPFLAGS += -Idaemon -Idaemon/ctl

tests: $(BIN) $(CTL) $(UNIT) $(TOOLS)

# libFuzzer with clang: `make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="config state"]` runs each
# target for FUZZ_SECONDS; inputs that reach new code land in its corpus, a crash in
# build/fuzz/NAME-crash-*, and the run stops there with the target named.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_LIB_SRC := $(COMMON_SRC) $(CONFIG_SRC) $(SYSTEMD_SRC) $(filter-out daemon/main.c,$(DAEMON_SRC)) \
	$(filter-out daemon/ctl/ecr-deployctl.c,$(CTL_SRC))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_CFLAGS = -std=gnu11 -g -O1 -MMD -MP -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -D_GNU_SOURCE -Icommon -Iconfig -Isystemd -Idaemon -Idaemon/ctl -Ibuild/gen \
	$(PKG_CFLAGS)

build/fuzz/obj/%.o: %.c | build/.libs-ok
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS) -lm

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p tests/fuzz/corpus/$$t; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/$$t- tests/fuzz/corpus/$$t 2>&1 | \
			grep -aE '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added|==[0-9]+==|SUMMARY|Test unit written|artifact_prefix)'; \
		[ $${PIPESTATUS[0]} -eq 0 ] || { echo "fuzz: target $$t failed; see build/fuzz/$$t-*" >&2; exit 1; }; \
	done

# Installs what is missing when run as root; otherwise says what to run.
deps:
	@if ! bash scripts/install-deps --check >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then bash scripts/install-deps; else \
			echo "make: packages are missing; as root run:" >&2; \
			echo "  apt-get update && apt-get install -y --no-install-recommends" \
				$$(bash scripts/install-deps --check) >&2; \
			echo "(or: bash scripts/install-deps)" >&2; exit 1; fi; fi

check: deps
	@$(MAKE) --no-print-directory tests
	@B=$(B) PYTHON=$(PYTHON) bash tests/run-suites

demo: deps
	@$(MAKE) --no-print-directory $(BIN) $(CTL)
	@B=$(B) $(PYTHON) scripts/demo

# Figures at scale against the simulator (minutes); prints, asserts nothing.
bench: deps
	@$(MAKE) --no-print-directory $(BIN) $(B)/httpfloor $(B)/statebench
	@B=$(B) $(PYTHON) tests/bench/bench.py
	@B=$(B) $(PYTHON) tests/bench/ctlbench.py

# The configuration is installed only where none exists: an operator's rules are never replaced
# (nor removed by uninstall).
install: $(BIN) $(CTL)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)/examples/cloudformation $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(CATALOGDIR) $(DESTDIR)$(SYSCONFDIR)/ecr-deployd/conf.d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(SBINDIR)/ecr-deployd
	install -m 0755 $(CTL) $(DESTDIR)$(SBINDIR)/ecr-deployctl
	install -m 0644 daemon/ctl/ecr-deployctl.8 $(DESTDIR)$(MANDIR)/man8/ecr-deployctl.8
	install -m 0644 daemon/ctl/ecr-deployctl.bash $(DESTDIR)$(BASHCOMPDIR)/ecr-deployctl
	sed 's|/usr/sbin/ecr-deployd|$(SBINDIR)/ecr-deployd|g' systemd/ecr-deployd.service \
		> $(DESTDIR)$(UNITDIR)/ecr-deployd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ecr-deployd.service
	install -m 0644 systemd/ecr-deployd.catalog $(DESTDIR)$(CATALOGDIR)/ecr-deployd.catalog
	install -m 0644 daemon/ecr-deployd.8 $(DESTDIR)$(MANDIR)/man8/ecr-deployd.8
	install -m 0644 config/ecr-deployd.conf.5 $(DESTDIR)$(MANDIR)/man5/ecr-deployd.conf.5
	install -m 0644 config/ecr-deployd.schema.json $(DESTDIR)$(DATADIR)/ecr-deployd.schema.json
	install -m 0644 config/examples/*.json $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 config/examples/cloudformation/*.json $(DESTDIR)$(DOCDIR)/examples/cloudformation/
	install -m 0644 docs/events.md docs/iam-policy.json $(DESTDIR)$(DOCDIR)/
	@# The group whose members may use the control socket (ecr-deployctl(8)); only on this system.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! getent group ecr-deployd >/dev/null; then \
		groupadd --system ecr-deployd && echo "install: created the system group ecr-deployd"; fi
	test -e $(DESTDIR)$(SYSCONFDIR)/ecr-deployd/ecr-deployd.json || \
		install -m 0644 config/ecr-deployd.default.json $(DESTDIR)$(SYSCONFDIR)/ecr-deployd/ecr-deployd.json

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/ecr-deployctl $(DESTDIR)$(MANDIR)/man8/ecr-deployctl.8 \
		$(DESTDIR)$(BASHCOMPDIR)/ecr-deployctl
	rm -f $(DESTDIR)$(SBINDIR)/ecr-deployd $(DESTDIR)$(UNITDIR)/ecr-deployd.service \
		$(DESTDIR)$(CATALOGDIR)/ecr-deployd.catalog $(DESTDIR)$(MANDIR)/man8/ecr-deployd.8 \
		$(DESTDIR)$(MANDIR)/man5/ecr-deployd.conf.5 $(DESTDIR)$(DATADIR)/ecr-deployd.schema.json
	rm -rf $(DESTDIR)$(DOCDIR)
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null

C_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find common daemon config systemd tests -name '*.[ch]')

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem \
		-Icommon -Iconfig -Isystemd -Idaemon -Itests/unit -D__GNUC__ common config daemon systemd tests
	@if git grep -nE '\b(sprintf|vsprintf|strcpy|strcat|gets|strtok)[[:space:]]*\(' \
		-- '*.c' '*.h'; then echo "lint: banned functions above (see STYLE)" >&2; exit 1; fi
	@clang-format --dry-run --Werror $(C_FILES)
	@echo "lint: clean"

format:
	clang-format -i $(C_FILES)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
