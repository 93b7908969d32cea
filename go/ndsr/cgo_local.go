//go:build !ndsr_system

package ndsr

// Builds against this source tree: include/ and target/release/ (run `make` at the top first).
// With the library installed (`make install`), build with -tags ndsr_system to use pkg-config.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lndsr
*/
import "C"
