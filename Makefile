# sqlassist — plain `make` builds ./sqlassist; `make test` builds and runs every test.
#
#   make                 optimized build in build/, binary copied to ./sqlassist
#   make test            build + run the whole suite (tests/run_all.sh)
#   make SAN=1           ASan+UBSan build in build-san/ (make SAN=1 test runs the suite on it)
#   make fuzz            libFuzzer targets in build-fuzz/ (clang)

CC      ?= gcc
SAN     ?= 0
PKGS    := libpcre2-8 libutf8proc jansson sqlite3 libedit libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpcre2-8 -lutf8proc -ljansson -lsqlite3 -ledit -lmicrohttpd)

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers -Wstrict-prototypes -Wmissing-prototypes
CSTD    := -std=c11 -D_GNU_SOURCE
ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     := -O2 -g
LDSAN   :=
endif
CFLAGS  += $(CSTD) $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) -pthread -MMD -MP
LDLIBS  += $(PKG_LIBS) -lm -pthread $(LDSAN)

LIB_SRC := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test clean fuzz
all: $(BUILD)/sqlassist $(TEST_BIN)
ifeq ($(SAN),0)
	@rm -f ./sqlassist && cp $(BUILD)/sqlassist ./sqlassist
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libsqlassist.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sqlassist: $(BUILD)/src/main.o $(BUILD)/libsqlassist.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libsqlassist.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libsqlassist.a $(LDLIBS)

test: all
	bash tests/run_all.sh $(BUILD)

FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
fuzz: $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
build-fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang $(CSTD) -O1 -g -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -Isrc -o $@ $< $(LIB_SRC) $(PKG_LIBS) -lm -pthread

clean:
	rm -rf build build-san build-fuzz sqlassist

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d
