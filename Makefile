# Almanac: the two set-up commands of the README, and a few more.
#   make run    install what is missing, build, create a demo user and calendar, serve
#   make check  install what is missing, build with ASan + UBSan, run every test (ctest)
#   make fuzz   build the libFuzzer targets with clang in build-fuzz/, fuzz each FUZZ_SECONDS
#   make install  build and install (PREFIX=/usr/local, DESTDIR for staging): almanacd,
#               almanac, the systemd unit, the example configuration, the docs
#   make deb    build the Debian package from the tree into build-deb/ (dpkg-buildpackage)
#   make deb-check  make deb, then install it, start it, request, remove it (as root; CI)
#   make mutate apply each mutant of tests/mutate/mutants.txt in build-mutate/, run the tests it
#               names, fail if one survives (MUTANTS=prefix... runs some; not part of check)

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
DATA    ?= data
LISTEN  ?= 127.0.0.1:8008
BUILD   := build
CHECK   := build-check
FUZZ    := build-fuzz
MUTATE  := build-mutate
FUZZ_SECONDS ?= 60
PREFIX  ?= /usr/local
DEB     := build-deb

.PHONY: all deps build run check tsan fuzz mutate bench clean format install deb deb-check

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALMANAC_SANITIZE=OFF

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS) --target almanacd almanac

run: build
	@bash scripts/demo-setup.sh $(BUILD)/almanac $(DATA) $(LISTEN)
	$(BUILD)/almanacd --data $(DATA) --listen $(LISTEN)

# The prefix is configured (not given to cmake --install), so the unit's ExecStart and the
# paths in it follow PREFIX; DESTDIR (from the environment or the command line) stages.
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALMANAC_SANITIZE=OFF \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j$(JOBS) --target almanacd almanac almanac_conf_example
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

deb: deps
	JOBS=$(JOBS) bash packaging/build-deb.sh $(DEB)

deb-check: deb
	bash tests/packaging/test_deb.sh $(DEB)/almanac_*.deb

check: deps
	cmake -S . -B $(CHECK) -DALMANAC_SANITIZE=ON -DALMANAC_WERROR=ON -DALMANAC_FAULTS=ON
	cmake --build $(CHECK) -j$(JOBS)
	cd $(CHECK) && ctest --output-on-failure -j$(JOBS) --timeout 900 || \
	    { bash $(CURDIR)/scripts/ctest-failed-tail.sh . 60; exit 1; }

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) bash scripts/fuzz.sh $(FUZZ)

# ThreadSanitizer over the tests that run threads against each other (CI runs it after check)
TSAN_TESTS := unit_store|unit_cal_test_cal_limits|unit_http|unit_util|integration_test_activesync_state|integration_test_expansion_limits|integration_test_server|integration_test_multiget|integration_test_store_faults|integration_test_imip|integration_test_multinode
tsan: deps
	cmake -S . -B build-tsan -DALMANAC_TSAN=ON -DALMANAC_WERROR=ON -DALMANAC_FAULTS=ON
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && ALMANAC_TEST_BOUND_SCALE=5 ctest --output-on-failure -j$(JOBS) --timeout 900 \
	    -R '$(TSAN_TESTS)' || { bash $(CURDIR)/scripts/ctest-failed-tail.sh . 60; exit 1; }

mutate: deps
	python3 tests/mutate/run.py --dir $(MUTATE) --jobs $(JOBS) $(MUTANTS)

bench: build
	bash bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(CHECK) build-tsan $(FUZZ) $(MUTATE) $(DEB)
