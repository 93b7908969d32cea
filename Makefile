# Build and install libndsr for C, C++ and Go users, and the ndsr command-line tool.
#   make                  build target/release/libndsr.{so,a}, target/release/ndsr and the man
#                         pages ndsr.1 and ndsr.3 (generated from the CLI and the header; as you)
#   sudo make install     copy them into $(DESTDIR)$(PREFIX) (PREFIX=/usr/local by default);
#                         it never builds, so root needs no Rust toolchain
#   sudo make uninstall
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/ndsr
MANDIR ?= $(PREFIX)/share/man
CARGO ?= cargo
STRIP ?= strip

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
OUT := target/release
BUILT := $(OUT)/libndsr.so $(OUT)/libndsr.a $(OUT)/ndsr $(OUT)/man/ndsr.1 $(OUT)/man/ndsr.3

.PHONY: all install uninstall
all:
	$(CARGO) build --release -p ndsr --lib
	$(CARGO) build --release -p ndsr-cli
	ln -sf libndsr.so $(OUT)/libndsr.so.$(MAJOR)
	python3 scripts/gen-man.py $(OUT)/man $(OUT)/ndsr

install:
	@for f in $(BUILT); do [ -e "$$f" ] || { echo "$$f is missing: run make first (install does not build)" >&2; exit 1; }; done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 0755 $(OUT)/libndsr.so $(DESTDIR)$(LIBDIR)/libndsr.so.$(VERSION)
	ln -sf libndsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libndsr.so.$(MAJOR)
	ln -sf libndsr.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libndsr.so
	install -m 0644 $(OUT)/libndsr.a $(DESTDIR)$(LIBDIR)/libndsr.a
	$(STRIP) --strip-debug $(DESTDIR)$(LIBDIR)/libndsr.a
	install -m 0755 $(OUT)/ndsr $(DESTDIR)$(BINDIR)/ndsr
	install -m 0644 $(OUT)/man/ndsr.1 $(DESTDIR)$(MANDIR)/man1/ndsr.1
	install -m 0644 $(OUT)/man/ndsr.3 $(DESTDIR)$(MANDIR)/man3/ndsr.3
	install -m 0644 include/ndsr.h include/ndsr.hpp $(DESTDIR)$(INCLUDEDIR)/
	for f in ndsr ndsr-static; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	      -e 's|@VERSION@|$(VERSION)|' $$f.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/$$f.pc; \
	done
	for f in ndsrConfig ndsrConfigVersion; do \
	  sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	      -e 's|@MAJOR@|$(MAJOR)|' cmake/$$f.cmake.in > $(DESTDIR)$(CMAKEDIR)/$$f.cmake; \
	done
	@# Into the system itself (no DESTDIR, as root): the loader's cache learns the new library.
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libndsr.so $(DESTDIR)$(LIBDIR)/libndsr.so.$(MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libndsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libndsr.a \
	      $(DESTDIR)$(BINDIR)/ndsr $(DESTDIR)$(MANDIR)/man1/ndsr.1 $(DESTDIR)$(MANDIR)/man3/ndsr.3 \
	      $(DESTDIR)$(INCLUDEDIR)/ndsr.h $(DESTDIR)$(INCLUDEDIR)/ndsr.hpp $(DESTDIR)$(PKGCONFIGDIR)/ndsr.pc \
	      $(DESTDIR)$(PKGCONFIGDIR)/ndsr-static.pc $(DESTDIR)$(CMAKEDIR)/ndsrConfig.cmake $(DESTDIR)$(CMAKEDIR)/ndsrConfigVersion.cmake
