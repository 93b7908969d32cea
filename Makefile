# Build and install libndsr for C, C++ and Go users.
#   make                  build target/release/libndsr.{so,a}
#   make install          install into $(DESTDIR)$(PREFIX) (PREFIX=/usr/local by default)
#   make uninstall
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CARGO ?= cargo

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
OUT := target/release

.PHONY: all install uninstall
all:
	$(CARGO) build --release -p ndsr --lib
	ln -sf libndsr.so $(OUT)/libndsr.so.$(MAJOR)

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0755 $(OUT)/libndsr.so $(DESTDIR)$(LIBDIR)/libndsr.so.$(VERSION)
	ln -sf libndsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libndsr.so.$(MAJOR)
	ln -sf libndsr.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libndsr.so
	install -m 0644 $(OUT)/libndsr.a $(DESTDIR)$(LIBDIR)/libndsr.a
	install -m 0644 include/ndsr.h include/ndsr.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' ndsr.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/ndsr.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libndsr.so $(DESTDIR)$(LIBDIR)/libndsr.so.$(MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libndsr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libndsr.a \
	      $(DESTDIR)$(INCLUDEDIR)/ndsr.h $(DESTDIR)$(INCLUDEDIR)/ndsr.hpp $(DESTDIR)$(PKGCONFIGDIR)/ndsr.pc
