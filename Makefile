# zbak: one non-recursive Makefile.
#   make              build build/zbak and build/libbackup.{a,so}
#   make check        unit + shell tests, then the same under ASan/UBSan, then a short fuzz run
#   make check-rgw    the repository suite against Ceph's RADOS Gateway (root; tests/rgw/)
#   make test         the suite once, in the current configuration (SANITIZE=... for a sanitizer build)
#   make demo         the main job on embedded defaults
#   make fuzz         build the libFuzzer targets (clang)
#   make bench        benchmarks (bench/); make bench-primitives: the crypto and LZ4 primitives alone
#   make install      the tool, man pages, example config, systemd units,
#                     bash completion, library and headers; PREFIX (/usr/local),
#                     DESTDIR, BINDIR, MANDIR, SYSCONFDIR (/etc), SYSTEMDUNITDIR,
#                     TMPFILESDIR, BASHCOMPDIR, DOCDIR, LIBDIR, INCLUDEDIR honoured
#                     (install-zbak: all but the library; make uninstall undoes both)
#   make deb          the Debian package, built in a copy of the tree
#                     (packaging/deb.sh): $(BUILD)/deb/zbak_VERSION_ARCH.deb
# V=1 shows the commands.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DOCDIR ?= $(PREFIX)/share/doc/zbak
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# systemd reads units from /usr/local/lib/systemd/system too; for PREFIX=/usr
# the distribution's own directories (Debian 12: /lib/systemd/system)
ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
TMPFILESDIR ?= $(or $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null),/usr/lib/tmpfiles.d)
else
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
endif
DESTDIR ?=

CC ?= cc
CLANG ?= clang
VERSION := 0.1.0

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Sanitizer builds go to a separate tree so they never mix with the plain one.
ifneq ($(SANITIZE),)
BUILD ?= build/sanitize
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD ?= build
SAN_FLAGS :=
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wformat=2 -Wno-format-nonliteral -Wpointer-arith -Wundef
WERROR ?= -Werror
OPT ?= -O2 -g
CPPFLAGS += -Iinclude -Ilibbackup -D_GNU_SOURCE -DZBAK_VERSION='"$(VERSION)"' \
	-DSYSCONFDIR='"$(SYSCONFDIR)"' $(PKG_CFLAGS)
CFLAGS_ALL = -std=c11 $(OPT) $(WARN) $(WERROR) -fPIC -fvisibility=hidden \
	-MMD -MP $(SAN_FLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
PKGS := libsodium libcrypto liblz4 libcurl libxml-2.0 inih zlib libzstd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

# DEPS=no: leave the dependencies alone (a package build: the
# Build-Depends are there, and apt-get must not run)
DEPS ?= auto
ifeq ($(DEPS),no)
DEPS_OK := yes
else
DEPS_OK := $(shell packaging/deps.sh --check >/dev/null 2>&1 && echo yes)
endif
ifneq ($(DEPS_OK),yes)
ifneq ($(filter-out clean deps,$(or $(MAKECMDGOALS),all)),)
# Something is missing: install it (root) or print the apt-get line (not root).
DEPS_INSTALL := $(shell packaging/deps.sh --install >&2 && echo ok)
ifneq ($(DEPS_INSTALL),ok)
$(error build dependencies are missing; see the apt-get line above)
endif
endif
endif
# libfuse3: only zbak mount (cmd/zbak/cmd_mount.c) and the programs
# that hold it; the library never needs it
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS := $(shell pkg-config --libs fuse3 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

LIB_SRCS := $(sort $(wildcard libbackup/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CMD_SRCS := $(sort $(wildcard cmd/zbak/*.c))
CMD_OBJS := $(CMD_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

ZBAK := $(BUILD)/zbak
LIBA := $(BUILD)/libbackup.a
# The test build: the same program with the test hooks of
# libbackup/util/hooks.h compiled in (curl's DEBUGBUILD); the installed
# zbak never reads them.  Its hooks object comes before libbackup.a, so the
# archive's (hook-less) one is not linked.
ZBAK_T := $(BUILD)/zbak-test
HOOKS_T := $(BUILD)/obj/test-hooks/hooks.o
LIBSO := $(BUILD)/libbackup.so

.PHONY: all check check-rgw test demo fuzz fuzz-run bench bench-compare bench-primitives install install-zbak \
	install-lib uninstall deb clean deps
.DEFAULT_GOAL := all

all: $(ZBAK) $(LIBA) $(LIBSO)

deps:
	$(Q)packaging/deps.sh --install

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib $(CMOCKA_CFLAGS) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/obj/cmd/zbak/cmd_mount.o: CPPFLAGS += $(FUSE_CFLAGS)

$(LIBA): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libbackup.so.0 $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(ZBAK): $(CMD_OBJS) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CMD_OBJS) $(LIBA) $(LIBS) $(FUSE_LIBS)

$(HOOKS_T): libbackup/util/hooks.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (test hooks)")
	$(Q)$(CC) $(CPPFLAGS) -DZBAK_TEST_HOOKS $(CFLAGS_ALL) -c -o $@ $<

$(ZBAK_T): $(CMD_OBJS) $(HOOKS_T) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CMD_OBJS) $(HOOKS_T) $(LIBA) $(LIBS) $(FUSE_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJS) $(HOOKS_T) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TESTLIB_OBJS) $(HOOKS_T) $(LIBA) $(CMOCKA_LIBS) $(LIBS)

# The suite once, in this configuration, on the test build (ZBAK); the
# build users install is ZBAK_RELEASE, which t0150 checks has no hooks.
# Results land in $(BUILD)/results.
test: $(ZBAK) $(ZBAK_T) $(UNIT_BINS)
	$(Q)ZBAK=$(CURDIR)/$(ZBAK_T) ZBAK_RELEASE=$(CURDIR)/$(ZBAK) \
		BUILD=$(CURDIR)/$(BUILD) tests/run.sh $(UNIT_BINS)

# The whole check: plain, sanitizers, fuzz smoke run; one closing line.
ifeq ($(SANITIZE),)
check:
	$(Q)rm -f build/results build/sanitize/results build/fuzz/results
	$(Q)$(MAKE) --no-print-directory test; s1=$$?; \
	 $(MAKE) --no-print-directory SANITIZE=address,undefined test; s2=$$?; \
	 $(MAKE) --no-print-directory fuzz-run; s3=$$?; \
	 tests/summary.sh build/results build/sanitize/results build/fuzz/results; s4=$$?; \
	 [ $$s1 -eq 0 ] && [ $$s2 -eq 0 ] && [ $$s3 -eq 0 ] && [ $$s4 -eq 0 ]
else
check: test
endif

# The repository suite against Ceph's RADOS Gateway: a throwaway single-node
# cluster (memstore) started and stopped by tests/rgw/cluster.sh; as root.
check-rgw: $(ZBAK_T)
	$(Q)packaging/deps.sh --rgw --install
	$(Q)rm -f build/rgw/results
	$(Q)ZBAK=$(CURDIR)/$(ZBAK_T) BUILD=$(CURDIR)/build/rgw tests/rgw/cluster.sh run tests/rgw/suite.sh; s1=$$?; \
	 tests/summary.sh build/rgw/results; s2=$$?; \
	 [ $$s1 -eq 0 ] && [ $$s2 -eq 0 ]

demo: $(ZBAK)
	$(Q)ZBAK=$(CURDIR)/$(ZBAK) tests/demo.sh

# libFuzzer targets: clang, with ASan and UBSan, built from the sources.
FUZZ_CFLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Iinclude -Ilibbackup -D_GNU_SOURCE \
	-DZBAK_VERSION='"$(VERSION)"'
build/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard include/backup/*.h libbackup/*/*.h)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_SRCS) $(LIBS)

fuzz: $(FUZZ_BINS)

FUZZ_SECONDS ?= 25
fuzz-run: fuzz $(ZBAK)
	$(Q)ZBAK=$(CURDIR)/$(ZBAK) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_BINS)

bench: $(ZBAK)
	$(Q)ZBAK=$(CURDIR)/$(ZBAK) bench/run.sh

# The primitives a push and a restore spend their CPU on, single-core
# (bench/primitives.c): the figures behind repository format 2's choices.
$(BUILD)/bench-primitives: bench/primitives.c
	@mkdir -p $(@D)
	$(Q)$(CC) -std=c11 -O2 $(WARN) $(PKG_CFLAGS) -o $@ $< $(LIBS)

bench-primitives: $(BUILD)/bench-primitives
	$(Q)$(BUILD)/bench-primitives

# This tree's speed next to revision BASE's (default HEAD~1), in one run.
bench-compare: $(ZBAK)
	$(Q)ZBAK=$(CURDIR)/$(ZBAK) BASE=$(BASE) bench/compare.sh

# The units name /usr/bin/zbak and /etc/zbak; installed, they name BINDIR
# and SYSCONFDIR.  zbak.conf itself is never installed (nor removed): the
# example is, beside it.
UNITS := zbak-backup.service zbak-backup.timer zbak-prune.service zbak-prune.timer
UNIT_SED := -e 's|/usr/bin/zbak|$(BINDIR)/zbak|g' -e 's|/etc/zbak|$(SYSCONFDIR)/zbak|g'

install: install-zbak install-lib

install-zbak: $(ZBAK)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/zbak \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(ZBAK) $(DESTDIR)$(BINDIR)/zbak
	install -m 0644 docs/zbak.1 $(DESTDIR)$(MANDIR)/man1/zbak.1
	install -m 0644 docs/zbak.conf.5 $(DESTDIR)$(MANDIR)/man5/zbak.conf.5
	install -m 0644 conf/zbak.conf $(DESTDIR)$(SYSCONFDIR)/zbak/zbak.conf.example
	for u in $(UNITS); do \
		sed $(UNIT_SED) packaging/systemd/$$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; \
	done
	install -m 0644 packaging/systemd/zbak.tmpfiles $(DESTDIR)$(TMPFILESDIR)/zbak.conf
	install -m 0644 packaging/bash-completion/zbak $(DESTDIR)$(BASHCOMPDIR)/zbak
	sed $(UNIT_SED) conf/zbak.cron >$(DESTDIR)$(DOCDIR)/examples/zbak.cron
	chmod 0644 $(DESTDIR)$(DOCDIR)/examples/zbak.cron

install-lib: $(LIBA)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/backup
	install -m 0644 $(LIBA) $(DESTDIR)$(LIBDIR)/libbackup.a
	install -m 0644 include/backup/*.h $(DESTDIR)$(INCLUDEDIR)/backup/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/zbak $(DESTDIR)$(MANDIR)/man1/zbak.1 \
		$(DESTDIR)$(MANDIR)/man5/zbak.conf.5 \
		$(DESTDIR)$(SYSCONFDIR)/zbak/zbak.conf.example \
		$(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(TMPFILESDIR)/zbak.conf $(DESTDIR)$(BASHCOMPDIR)/zbak \
		$(DESTDIR)$(DOCDIR)/examples/zbak.cron \
		$(DESTDIR)$(LIBDIR)/libbackup.a
	rm -rf $(DESTDIR)$(INCLUDEDIR)/backup
	rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/zbak 2>/dev/null || true

# The .deb: packaging/debian/ becomes debian/ in a copy of the tree under
# $(BUILD)/deb, which dpkg-buildpackage builds; the source tree stays clean.
deb:
	$(Q)packaging/deb.sh $(BUILD)/deb

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(CMD_OBJS:.o=.d) $(TESTLIB_OBJS:.o=.d) $(HOOKS_T:.o=.d) \
	$(UNIT_BINS:$(BUILD)/tests/%=$(BUILD)/obj/tests/unit/%.d)
