// Package ndsr is the Go binding of libndsr, a service registry and dynamic-configuration
// library on Apache ZooKeeper (through its C API, with cgo).
//
//	r, err := ndsr.Open("zk1:2181,zk2:2181", map[string]string{"timeout_ms": "5000"})
//	defer r.Close()
//	r.SetNode("/services/web/host1:80", map[string]int{"weight": 10})
//	doc, err := r.Get("/services/web")          // doc.Children["host1:80"]["weight"]
//	sub, err := r.OnChange("/services/web", func(doc *ndsr.Document) { ... })
//	defer sub.Close()
package ndsr

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Status codes of the C API (never renumbered), by value; consts_check.go makes the build
// fail if one differs from the header's.
const (
	OK               int = 0   // NDSR_OK
	Queued           int = 1   // NDSR_QUEUED
	EInvalidArgument int = -1  // NDSR_E_INVALID_ARGUMENT
	ENoConnection    int = -2  // NDSR_E_NO_CONNECTION
	EReadOnly        int = -3  // NDSR_E_READ_ONLY
	ENoAuth          int = -4  // NDSR_E_NO_AUTH
	EAuthFailed      int = -5  // NDSR_E_AUTH_FAILED
	ETooLarge        int = -6  // NDSR_E_TOO_LARGE
	ETimeout         int = -7  // NDSR_E_TIMEOUT
	EClosed          int = -8  // NDSR_E_CLOSED
	EInternal        int = -9  // NDSR_E_INTERNAL
	ENotFound        int = -10 // NDSR_E_NOT_FOUND
	EZooKeeper       int = -11 // NDSR_E_ZOOKEEPER
	ELockLost        int = -12 // NDSR_E_LOCK_LOST
	EConflict        int = -13 // NDSR_E_CONFLICT
)

// State is a connection state.
type State int

// Connection states.
const (
	Disconnected      State = 0 // NDSR_STATE_DISCONNECTED
	Connected         State = 1 // NDSR_STATE_CONNECTED
	ConnectedReadOnly State = 2 // NDSR_STATE_CONNECTED_READ_ONLY
	Expired           State = 3 // NDSR_STATE_EXPIRED
	AuthFailed        State = 4 // NDSR_STATE_AUTH_FAILED
	Closed            State = 5 // NDSR_STATE_CLOSED
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connected:
		return "connected"
	case ConnectedReadOnly:
		return "connected read-only"
	case Expired:
		return "expired"
	case AuthFailed:
		return "auth failed"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Error is an error from libndsr: its status code and message.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", C.GoString(C.ndsr_status_str(C.int(e.Code))), e.Message)
}

func toError(rc C.int, msg *C.char) error {
	if rc >= 0 {
		return nil
	}
	e := &Error{Code: int(rc)}
	if msg != nil {
		e.Message = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	return e
}

// Version is the library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.ndsr_version()) }

// Registry is a handle: one ZooKeeper session with its registrations, cache and callbacks.
// Safe for concurrent use. It stays open, with its registrations in place, until Close: it is
// never closed by the garbage collector, even when the program keeps no reference to it (a
// process that is still serving must not lose its registration at the next GC). Close it when
// done.
type Registry struct {
	mu sync.RWMutex
	h  *C.ndsr_t
}

// openRegistries holds every registry from Open to Close, so that none is collected while open.
var openRegistries = struct {
	sync.Mutex
	set map[*Registry]struct{}
}{set: map[*Registry]struct{}{}}

// Open connects to server (a ZooKeeper connect string; "" means localhost:2181) with options
// ("timeout_ms", "readonly", "lazy").
func Open(server string, options map[string]string) (*Registry, error) {
	ck, cv, n, free := cOptions(options)
	defer free()
	var cserver *C.char
	if server != "" {
		cserver = C.CString(server)
		defer C.free(unsafe.Pointer(cserver))
	}
	var h *C.ndsr_t
	var msg *C.char
	rc := C.ndsr_go_open(cserver, ck, cv, C.int(n), &h, &msg)
	if err := toError(rc, msg); err != nil {
		return nil, err
	}
	r := &Registry{h: h}
	openRegistries.Lock()
	openRegistries.set[r] = struct{}{}
	openRegistries.Unlock()
	return r, nil
}

// cOptions copies options into C arrays of keys and values (Go memory must not hold the C
// strings' pointers across a call); free releases them.
func cOptions(options map[string]string) (ck, cv **C.char, n int, free func()) {
	n = len(options)
	ck = (**C.char)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	cv = (**C.char)(C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	ks, vs := unsafe.Slice(ck, n+1), unsafe.Slice(cv, n+1)
	i := 0
	for k, v := range options {
		ks[i], vs[i] = C.CString(k), C.CString(v)
		i++
	}
	free = func() {
		for j := 0; j < n; j++ {
			C.free(unsafe.Pointer(ks[j]))
			C.free(unsafe.Pointer(vs[j]))
		}
		C.free(unsafe.Pointer(ck))
		C.free(unsafe.Pointer(cv))
	}
	return ck, cv, n, free
}

// handle is the C handle, or an error once the registry is closed.
func (r *Registry) handle() (*C.ndsr_t, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.h == nil {
		return nil, &Error{Code: EClosed, Message: "the registry is closed"}
	}
	return r.h, nil
}

// Close closes the session (this handle's ephemeral nodes disappear at once) and ends its
// callbacks. Calling it again does nothing.
func (r *Registry) Close() error {
	r.mu.Lock()
	h := r.h
	r.h = nil
	r.mu.Unlock()
	if h != nil {
		C.ndsr_close(h)
		openRegistries.Lock()
		delete(openRegistries.set, r)
		openRegistries.Unlock()
	}
	return nil
}

func encode(data interface{}) (*C.char, error) {
	var text []byte
	switch d := data.(type) {
	case nil:
		text = []byte("null")
	case json.RawMessage:
		text = d
	case []byte:
		text = d
	default:
		var err error
		if text, err = json.Marshal(d); err != nil {
			return nil, &Error{Code: EInvalidArgument, Message: err.Error()}
		}
	}
	return C.CString(string(text)), nil
}

func (r *Registry) write(path string, data interface{}, f func(h *C.ndsr_t, p, j *C.char, e **C.char) C.int) (bool, error) {
	cj, err := encode(data)
	if err != nil {
		return false, err
	}
	defer C.free(unsafe.Pointer(cj))
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	h, err := r.handle()
	if err != nil {
		return false, err
	}
	var msg *C.char
	rc := f(h, cp, cj, &msg)
	runtime.KeepAlive(r)
	return rc == C.NDSR_QUEUED, toError(rc, msg)
}

// SetNode registers path as an ephemeral node with data (anything json.Marshal takes that makes
// an object, a string, or nil; json.RawMessage and []byte are passed as JSON text). queued is
// true when no session could take it now: it is kept and applied once one exists.
func (r *Registry) SetNode(path string, data interface{}) (queued bool, err error) {
	return r.write(path, data, func(h *C.ndsr_t, p, j *C.char, e **C.char) C.int { return C.ndsr_go_set_node(h, p, j, e) })
}

// SetData stores data in the persistent node path (as SetNode for data and results).
func (r *Registry) SetData(path string, data interface{}) (queued bool, err error) {
	return r.write(path, data, func(h *C.ndsr_t, p, j *C.char, e **C.char) C.int { return C.ndsr_go_set_data(h, p, j, e) })
}

// Unset deletes the node path and forgets its registration.
func (r *Registry) Unset(path string) (queued bool, err error) {
	return r.write(path, nil, func(h *C.ndsr_t, p, _ *C.char, e **C.char) C.int { return C.ndsr_go_unset(h, p, e) })
}

// Stat is a ZooKeeper node's stat.
type Stat struct {
	Czxid          int64 `json:"czxid"`
	Mzxid          int64 `json:"mzxid"`
	Ctime          int64 `json:"ctime"`
	Mtime          int64 `json:"mtime"`
	Version        int32 `json:"version"`
	Cversion       int32 `json:"cversion"`
	Aversion       int32 `json:"aversion"`
	EphemeralOwner int64 `json:"ephemeralOwner"`
	DataLength     int32 `json:"dataLength"`
	NumChildren    int32 `json:"numChildren"`
	Pzxid          int64 `json:"pzxid"`
}

// Document is what libndsr knows of a path: Stat is nil when the node does not exist; Data is
// the node's decoded data (nil for none); Children maps each child's name to its decoded data.
// Raw is the JSON text as the library gave it.
type Document struct {
	Path     string                            `json:"path"`
	Stat     *Stat                             `json:"stat"`
	Data     map[string]interface{}            `json:"data"`
	Children map[string]map[string]interface{} `json:"children"`
	Raw      string                            `json:"-"`
}

func decode(raw string) (*Document, error) {
	d := &Document{Raw: raw}
	if err := json.Unmarshal([]byte(raw), d); err != nil {
		return nil, &Error{Code: EInternal, Message: "undecodable document: " + err.Error()}
	}
	return d, nil
}

// Get returns the document of path: the first call reads it and starts watching it; later calls
// come from the cache without a network round-trip.
func (r *Registry) Get(path string) (*Document, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	h, err := r.handle()
	if err != nil {
		return nil, err
	}
	var out, msg *C.char
	var n C.size_t
	rc := C.ndsr_go_get_json(h, cp, &out, &n, &msg)
	runtime.KeepAlive(r)
	if err := toError(rc, msg); err != nil {
		return nil, err
	}
	raw := C.GoStringN(out, C.int(n))
	C.ndsr_string_free(out)
	return decode(raw)
}

// State is the connection state now.
func (r *Registry) State() State {
	h, err := r.handle()
	if err != nil {
		return Closed
	}
	s := State(C.ndsr_state(h))
	runtime.KeepAlive(r)
	return s
}

// Lock is a held lock (kazoo Semaphore layout, shared with the Python original). Release it when
// done; a finalizer frees a forgotten one.
type Lock struct {
	mu sync.Mutex
	l  *C.ndsr_lock_t
}

// Lock acquires the lock path allowing simultaneous holders (1 = a mutex) under the holder name
// name, waiting up to wait for a holder to let go (0 = one attempt). An *Error with ETimeout
// when not acquired in time.
func (r *Registry) Lock(path, name string, simultaneous int, wait time.Duration) (*Lock, error) {
	h, err := r.handle()
	if err != nil {
		return nil, err
	}
	cp, cn := C.CString(path), C.CString(name)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cn))
	var l *C.ndsr_lock_t
	var msg *C.char
	rc := C.ndsr_go_lock_acquire(h, cp, cn, C.int(simultaneous), C.int64_t(wait.Milliseconds()), &l, &msg)
	runtime.KeepAlive(r)
	if err := toError(rc, msg); err != nil {
		return nil, err
	}
	lk := &Lock{l: l}
	runtime.SetFinalizer(lk, (*Lock).Free)
	return lk, nil
}

// Release releases the lock; others may take it at once. Releasing twice gives ENotFound.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.l == nil {
		return &Error{Code: ENotFound, Message: "the lock is freed"}
	}
	var msg *C.char
	return toError(C.ndsr_go_lock_release(l.l, &msg), msg)
}

// Check is nil while the lock is held; an *Error with ELockLost once its session ended (someone
// else may hold it now), ENoConnection while disconnected, ENotFound after Release.
func (l *Lock) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.l == nil {
		return &Error{Code: ENotFound, Message: "the lock is freed"}
	}
	rc := C.ndsr_lock_check(l.l)
	if rc >= 0 {
		return nil
	}
	return &Error{Code: int(rc), Message: C.GoString(C.ndsr_status_str(rc))}
}

// Free releases the lock if held and frees it. Calling it again does nothing.
func (l *Lock) Free() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.l != nil {
		runtime.SetFinalizer(l, nil)
		C.ndsr_lock_free(l.l)
		l.l = nil
	}
}
