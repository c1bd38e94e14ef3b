# zbak: one non-recursive Makefile.
#   make              build build/zbak and build/libbackup.{a,so}
#   make check        unit + shell tests, then the same under ASan/UBSan, then a short fuzz run
#   make check-rgw    the repository suite against Ceph's RADOS Gateway (root; tests/rgw/)
#   make test         the suite once, in the current configuration (SANITIZE=... for a sanitizer build)
#   make demo         the main job on embedded defaults
#   make fuzz         build the libFuzzer targets (clang)
#   make bench        benchmarks (bench/)
#   make install      PREFIX, DESTDIR, BINDIR, MANDIR, SYSCONFDIR honoured
# V=1 shows the commands.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
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
CPPFLAGS += -Iinclude -Ilibbackup -D_GNU_SOURCE -DZBAK_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
CFLAGS_ALL = -std=c11 $(OPT) $(WARN) $(WERROR) -fPIC -fvisibility=hidden \
	-MMD -MP $(SAN_FLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SAN_FLAGS) $(LDFLAGS)
PKGS := libsodium liblz4 libcurl libxml-2.0 inih
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

DEPS_OK := $(shell packaging/deps.sh --check >/dev/null 2>&1 && echo yes)
ifneq ($(DEPS_OK),yes)
ifneq ($(filter-out clean deps,$(or $(MAKECMDGOALS),all)),)
# Something is missing: install it (root) or print the apt-get line (not root).
DEPS_INSTALL := $(shell packaging/deps.sh --install >&2 && echo ok)
ifneq ($(DEPS_INSTALL),ok)
$(error build dependencies are missing; see the apt-get line above)
endif
endif
endif
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
LIBSO := $(BUILD)/libbackup.so

.PHONY: all check check-rgw test demo fuzz fuzz-run bench install uninstall clean deps
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

$(LIBA): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libbackup.so.0 $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(ZBAK): $(CMD_OBJS) $(LIBA)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CMD_OBJS) $(LIBA) $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJS) $(LIBA)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TESTLIB_OBJS) $(LIBA) $(CMOCKA_LIBS) $(LIBS)

# The suite once, in this configuration.  Results land in $(BUILD)/results.
test: $(ZBAK) $(UNIT_BINS)
	$(Q)ZBAK=$(CURDIR)/$(ZBAK) BUILD=$(CURDIR)/$(BUILD) tests/run.sh $(UNIT_BINS)

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
check-rgw: $(ZBAK)
	$(Q)packaging/deps.sh --rgw --install
	$(Q)rm -f build/rgw/results
	$(Q)ZBAK=$(CURDIR)/$(ZBAK) BUILD=$(CURDIR)/build/rgw tests/rgw/cluster.sh run tests/rgw/suite.sh; s1=$$?; \
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

install: $(ZBAK) $(LIBA)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR)/backup
	install -m 0755 $(ZBAK) $(DESTDIR)$(BINDIR)/zbak
	install -m 0644 $(LIBA) $(DESTDIR)$(LIBDIR)/libbackup.a
	install -m 0644 include/backup/*.h $(DESTDIR)$(INCLUDEDIR)/backup/
	install -m 0644 docs/zbak.1 $(DESTDIR)$(MANDIR)/man1/zbak.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/zbak $(DESTDIR)$(LIBDIR)/libbackup.a \
		$(DESTDIR)$(MANDIR)/man1/zbak.1
	rm -rf $(DESTDIR)$(INCLUDEDIR)/backup

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(CMD_OBJS:.o=.d) $(TESTLIB_OBJS:.o=.d) \
	$(UNIT_BINS:$(BUILD)/tests/%=$(BUILD)/obj/tests/unit/%.d)
