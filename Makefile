# Makefile -- build, install and test candidate_docs with PGXS
#
#   make                 build (warnings are errors)
#   make install         install into the PostgreSQL found by pg_config
#   make installcheck    pg_regress against a running server on this machine
#                        (PGHOST, PGPORT, PGUSER: a superuser) with candidate_docs
#                        installed and preloaded; starts the bundled mock API
#                        (test/installcheck.sh says what it checks first)
#   make deps            install the build and test packages that are missing (apt-get)
#   make test            deps + build + install + throwaway cluster and mock API +
#                        pg_regress + TAP tests (test/run_tests.sh)
#                        + a short fuzzing run (FUZZ_SECONDS=15 per target)
#   make test PG_MAJOR=NN
#                        the same on PostgreSQL NN (15, 17 or 18), built and
#                        tested with the Debian release that ships it: this
#                        machine's own, or a cached Debian root under chroot
#                        (test/pgroot.sh; no fuzzing there)
#   make test-all        make test PG_MAJOR=NN for every tested major
#   make test-asan       the same tests against an ASan+UBSan build of the
#                        extension, loaded by a server with the ASan runtime
#                        preloaded; any sanitizer report fails (SANITIZE=1
#                        make test is the same; see test/sanitize.sh)
#   make test-cassert    the same tests against PostgreSQL built with
#                        --enable-cassert (freed memory clobbered, Assert()
#                        checked) from the distribution's source package,
#                        cached in /var/cache/candidate_docs (CASSERT=1 make
#                        test is the same; see test/cassert.sh)
#   make fuzz            libFuzzer targets in test/fuzz, FUZZ_SECONDS (default
#                        60) each (test/fuzz/run.sh)
#   make demo            the same setup, then runs test/demo.sql (test/demo.sh)
#   make deb             the Debian packages postgresql-NN-candidate-docs
#                        (debian/, pg_buildext) for 15 here and 17 and 18 in
#                        their Debian roots, into deb/NN/ (test/deb.sh)
#   make deb-test        make deb, then each package installed in a clean
#                        copy of its Debian root, a server started, CREATE
#                        EXTENSION and make installcheck (test/deb.sh)
#   make bench           bench/run
#
# PG_CONFIG selects the PostgreSQL installation; PG_MAJOR=NN is a shortcut for
# /usr/lib/postgresql/NN/bin/pg_config. SANITIZE=1 builds with
# -fsanitize=address,undefined (such a build loads only into a server that
# preloads libasan).

EXTENSION  = candidate_docs
MODULE_big = candidate_docs
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA       = $(sort $(wildcard candidate_docs--*.sql))
REGRESS    = $(sort $(basename $(notdir $(wildcard sql/*.sql))))

# PostgreSQL headers are not -Wextra clean: unused parameters in inline
# functions, and PG_TRY's own variable "might be clobbered" by its longjmp.
# The other two exceptions are common PostgreSQL idioms.
PG_CFLAGS += -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-clobbered \
	-Wno-missing-field-initializers -Wno-sign-compare

ifeq ($(SANITIZE),1)
PG_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
SHLIB_LINK += -fsanitize=address,undefined
endif

HAVE_PKG_CONFIG := $(shell pkg-config --exists libcurl jansson 2>/dev/null && echo yes)
ifeq ($(HAVE_PKG_CONFIG),yes)
PG_CPPFLAGS += $(shell pkg-config --cflags libcurl jansson)
SHLIB_LINK  += $(shell pkg-config --libs libcurl jansson)
else
SHLIB_LINK  += -lcurl -ljansson
endif

ifdef PG_MAJOR
PG_CONFIG ?= /usr/lib/postgresql/$(PG_MAJOR)/bin/pg_config
else
PG_CONFIG ?= pg_config
endif

# On a fresh machine pg_config or the server development files may be
# missing: the PGXS rules are then left out, and only the targets below that
# install them first (deps, test, demo) work.
# BITCODE=no: no LLVM bitcode for JIT inlining, even where the server was
# built with LLVM (the Debian packages: no dependency on the server's JIT
# package)
ifeq ($(BITCODE),no)
override with_llvm := no
endif

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
# make installcheck checks the server, and starts the bundled mock API, first
pg_regress_installcheck := $(patsubst %/pg_regress,bash test/installcheck.sh '$(bindir)' %/pg_regress,$(pg_regress_installcheck))
# every source includes the private header(s)
$(OBJS): $(wildcard src/*.h)
else
all install installcheck:
	@echo "PostgreSQL server development files not found (PG_CONFIG=$(PG_CONFIG)); run 'make deps' first" >&2
	@exit 1
clean:
	rm -f $(OBJS) $(OBJS:.o=.bc) $(MODULE_big).so
	rm -rf results/ regression.diffs regression.out
endif

.PHONY: deps test test-all test-asan test-cassert fuzz demo bench deb deb-test

deps:
	bash test/deps.sh

test:
ifdef PG_MAJOR
	bash test/pgroot.sh test $(PG_MAJOR)
else
	bash test/run_tests.sh
endif

test-all:
	bash test/pgroot.sh test-all

test-asan:
	SANITIZE=1 bash test/run_tests.sh

test-cassert:
	CASSERT=1 bash test/run_tests.sh

FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash test/fuzz/run.sh

demo:
	@bash test/demo.sh

deb:
	@bash test/deb.sh build

deb-test:
	@bash test/deb.sh test

bench:
	@if [ -x bench/run ]; then bench/run; else bash bench/run; fi
