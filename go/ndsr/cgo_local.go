//go:build !ndsr_system && !ndsr_static

package ndsr

// Builds against this source tree: include/ and target/release/ (run `make` at the top first).
// The binary this makes finds libndsr.so in the checkout (an rpath): fine for development, not
// for shipping. With the library installed (`make install`), build with -tags ndsr_system
// (pkg-config, libndsr.so) or -tags ndsr_static (pkg-config, libndsr.a linked in).

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lndsr
*/
import "C"
