//go:build ndsr_static && !ndsr_system

package ndsr

// Links the installed libndsr.a (`make install`) through pkg-config's ndsr-static: the binary
// needs no libndsr.so at run time.

/*
#cgo pkg-config: ndsr-static
*/
import "C"
