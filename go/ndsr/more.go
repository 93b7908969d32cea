package ndsr

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// withHandle runs one call on the handle, keeping the registry alive meanwhile.
func (r *Registry) withHandle(f func(h *C.ndsr_t, e **C.char) C.int) (C.int, error) {
	h, err := r.handle()
	if err != nil {
		return 0, err
	}
	var msg *C.char
	rc := f(h, &msg)
	runtime.KeepAlive(r)
	return rc, toError(rc, msg)
}

// withPath runs one call that takes the handle and a path, keeping the registry alive meanwhile.
func (r *Registry) withPath(path string, f func(h *C.ndsr_t, p *C.char, e **C.char) C.int) (C.int, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	return r.withHandle(func(h *C.ndsr_t, e **C.char) C.int { return f(h, cp, e) })
}

// RegistrationStatus says where this registry's registration of path stands: (false, nil) when
// it is in place, (true, nil) when it is kept waiting for a session; an *Error with EConflict when another live session holds the path (it is registered again when
// that one goes), ENotFound when path is not registered here. Never blocks on the network.
func (r *Registry) RegistrationStatus(path string) (queued bool, err error) {
	rc, err := r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int {
		return C.ndsr_go_registration_status(h, p, e)
	})
	return rc == C.NDSR_QUEUED, err
}

// Freshness says whether the document Get gives for path is live (changes arrive as they
// happen) or last-known, and since when. An *Error with ENotFound when path was never read.
func (r *Registry) Freshness(path string) (live bool, since time.Time, err error) {
	var l C.int
	var ms C.int64_t
	_, err = r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int {
		return C.ndsr_go_get_freshness(h, p, &l, &ms, e)
	})
	if err != nil {
		return false, time.Time{}, err
	}
	return l != 0, time.UnixMilli(int64(ms)), nil
}

// SetCredentials authenticates with digest credentials, now and after every reconnection; new
// nodes get these credentials' ACL. The password is never logged.
func (r *Registry) SetCredentials(username, password string) error {
	cu, cpw := C.CString(username), C.CString(password)
	defer C.free(unsafe.Pointer(cu))
	defer C.free(unsafe.Pointer(cpw))
	_, err := r.withHandle(func(h *C.ndsr_t, e **C.char) C.int { return C.ndsr_go_set_credentials(h, cu, cpw, e) })
	return err
}

// SessionID is the current ZooKeeper session's id; an *Error with ENoConnection before the
// first session.
func (r *Registry) SessionID() (int64, error) {
	var id C.int64_t
	_, err := r.withHandle(func(h *C.ndsr_t, e **C.char) C.int { return C.ndsr_go_session_id(h, &id, e) })
	return int64(id), err
}

// StatsJSON is the handle's stats as a JSON object (counters since Open, gauges now; see
// ndsr_stats_json in ndsr.h for the fields). It never touches the network.
func (r *Registry) StatsJSON() (string, error) {
	return r.text(func(h *C.ndsr_t, out **C.char, n *C.size_t, e **C.char) C.int {
		return C.ndsr_go_stats_json(h, out, n, e)
	})
}

// StatsPrometheus is the same stats in Prometheus' text format, for a /metrics endpoint.
func (r *Registry) StatsPrometheus() (string, error) {
	return r.text(func(h *C.ndsr_t, out **C.char, n *C.size_t, e **C.char) C.int {
		return C.ndsr_go_stats_prometheus(h, out, n, e)
	})
}

// text calls fn for a string the library allocates, and returns a Go copy of it.
func (r *Registry) text(fn func(*C.ndsr_t, **C.char, *C.size_t, **C.char) C.int) (string, error) {
	var out *C.char
	var n C.size_t
	_, err := r.withHandle(func(h *C.ndsr_t, e **C.char) C.int { return fn(h, &out, &n, e) })
	if err != nil {
		return "", err
	}
	s := C.GoStringN(out, C.int(n))
	C.ndsr_string_free(out)
	return s, nil
}

// Rebuild gives a forked child its own session now (any call does it too); queued is true when
// the new session is still connecting. Go programs rarely fork without exec; it is here for
// parity with the C API.
func (r *Registry) Rebuild() (queued bool, err error) {
	rc, err := r.withHandle(func(h *C.ndsr_t, e **C.char) C.int { return C.ndsr_go_rebuild(h, e) })
	return rc == C.NDSR_QUEUED, err
}

// AcquireLock takes the lock path as Lock does, but the registry keeps it until ReleaseLock(path)
// or Close (the original's acquire_lock). Acquiring a path held already returns nil at once.
func (r *Registry) AcquireLock(path, name string, simultaneous int, wait time.Duration) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	_, err := r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int {
		return C.ndsr_go_acquire_lock(h, p, cn, C.int(simultaneous), C.int64_t(wait.Milliseconds()), e)
	})
	return err
}

// ReleaseLock releases a lock taken with AcquireLock; a path not held is not an error.
func (r *Registry) ReleaseLock(path string) error {
	_, err := r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int { return C.ndsr_go_release_lock(h, p, e) })
	return err
}

// LogFunc receives a log line: level (1 = error ... 5 = trace), the component ("session",
// "cache", ...) and the message. It is called from library threads, concurrently, and must not
// call the library.
type LogFunc func(level int, component, message string)

var logMu sync.Mutex

//export ndsrGoLog
func ndsrGoLog(handle C.uintptr_t, level C.int, component *C.char, message *C.char) {
	defer recoverCallback("log")
	cgo.Handle(handle).Value().(LogFunc)(int(level), C.GoString(component), C.GoString(message))
}

// SetLogHandler sends the library's log lines up to maxLevel (0 = none ... 5 = trace) to fn
// (ndsr_set_log_handler); nil restores stderr. Process-wide. A handler replaced later is kept
// (a line may still be in flight on another thread).
func SetLogHandler(fn LogFunc, maxLevel int) {
	setLog(fn, maxLevel, func(h C.uintptr_t, l C.int) { C.ndsr_go_set_log_handler(h, l) })
}

// SetLogger is SetLogHandler through ndsr_set_logger: the library gives "component: text",
// split back into its parts for fn.
func SetLogger(fn LogFunc, maxLevel int) {
	setLog(fn, maxLevel, func(h C.uintptr_t, l C.int) { C.ndsr_go_set_logger(h, l) })
}

func setLog(fn LogFunc, maxLevel int, set func(h C.uintptr_t, l C.int)) {
	logMu.Lock()
	defer logMu.Unlock()
	var h C.uintptr_t
	if fn != nil {
		h = C.uintptr_t(cgo.NewHandle(fn)) // never deleted: a line may be in flight
	}
	set(h, C.int(maxLevel))
}
