# Compiler and linker flags shared by every target. httpd and APR flags come from apxs and
# apr-1-config, the libraries from pkg-config, so the build follows the installed httpd.
APXS     ?= apxs
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_INC   := $(shell apr-1-config --includes 2>/dev/null) $(shell apu-1-config --includes 2>/dev/null)
APR_CPP   := $(shell apr-1-config --cppflags 2>/dev/null)
PKGS      := jansson yaml-0.1 libzstd libbrotlienc libbrotlidec zlib

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
OPT      ?= -O2 -g
SAN      ?=
# One flag set for every object: -fPIC because the core libraries end up in the modules too.
CFLAGS_ALL  = -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) -fPIC $(WARNINGS) $(APR_CPP) $(APR_INC) \
              -I$(HTTPD_INC) -Iinclude -Icommon -Imod_aiproxy_translate -Imod_aiproxy -Imod_aiproxy_oauth \
              $(shell pkg-config --cflags $(PKGS) libcurl 2>/dev/null)
LDFLAGS_ALL = $(SAN)
LIBS_COMMON := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Modules: what each core and glue needs beyond httpd and APR, which httpd has loaded already.
LIBS_TRANSLATE = -lzstd -lz -lbrotlienc -lbrotlidec
LIBS_ROUTER    = -ljansson -lyaml -lzstd -lz -lbrotlienc -lbrotlidec
LIBS_OAUTH     = -ljansson -lcrypto -lhiredis $(shell pkg-config --libs libcurl 2>/dev/null)
LIBS_MOCK      = -ljansson -lz -lzstd -lbrotlidec
# Programs linking the core libraries (tests, fuzz replays, fuzzers, benchmark, tools).
LIBS_CORE      = -lapr-1 -laprutil-1 $(LIBS_COMMON) -lcrypto
LIBS_TEST      = -lcmocka $(LIBS_CORE)
