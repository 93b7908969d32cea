package ndsr

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
	"unsafe"
)

// Change is a child whose data changed: its data before and after.
type Change struct {
	Old map[string]interface{} `json:"old"`
	New map[string]interface{} `json:"new"`
}

// Diff is what changed in a watched path since the previous call (see OnDiff): Stat is the
// node's stat now (nil when the node does not exist); Added and Removed map each child's name to
// its data, Changed to its data before and after; Data is non-nil only when the node's own data
// changed. Raw is the JSON text as the library gave it.
type Diff struct {
	Path    string                            `json:"path"`
	Stat    *Stat                             `json:"stat"`
	Added   map[string]map[string]interface{} `json:"added"`
	Removed map[string]map[string]interface{} `json:"removed"`
	Changed map[string]Change                 `json:"changed"`
	Data    *Change                           `json:"data"`
	Raw     string                            `json:"-"`
}

func decodeDiff(raw string) (*Diff, error) {
	d := &Diff{Raw: raw}
	if err := json.Unmarshal([]byte(raw), d); err != nil {
		return nil, &Error{Code: EInternal, Message: "undecodable diff: " + err.Error()}
	}
	return d, nil
}

// Snapshot is an immutable view of a watched path's document, read without copying or decoding
// the whole document (see Registry.Snapshot). Children are in name order. Safe for concurrent
// use. Release it when done (a snapshot the program drops is released by the garbage collector).
type Snapshot struct {
	mu sync.RWMutex
	s  *C.ndsr_snapshot_t
}

// Snapshot returns a snapshot of the document of path: read and watched at the first use of
// path, from the cache after that.
func (r *Registry) Snapshot(path string) (*Snapshot, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	h, err := r.handle()
	if err != nil {
		return nil, err
	}
	var s *C.ndsr_snapshot_t
	var msg *C.char
	rc := C.ndsr_go_snapshot_get(h, cp, &s, &msg)
	runtime.KeepAlive(r)
	if err := toError(rc, msg); err != nil {
		return nil, err
	}
	snap := &Snapshot{s: s}
	runtime.SetFinalizer(snap, func(s *Snapshot) { _ = s.Release() })
	return snap, nil
}

func released() error {
	return &Error{Code: EInvalidArgument, Message: "the snapshot is released"}
}

// Release releases the snapshot. Releasing it again gives an *Error with EInvalidArgument.
func (s *Snapshot) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return released()
	}
	runtime.SetFinalizer(s, nil)
	var msg *C.char
	err := toError(C.ndsr_go_snapshot_release(s.s, &msg), msg)
	s.s = nil
	return err
}

// JSON is the whole document, as Registry.Get's Document.Raw ("" once released).
func (s *Snapshot) JSON() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n C.size_t
	p := C.ndsr_snapshot_json(s.s, &n)
	if p == nil {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

// Count is the number of children (0 once released).
func (s *Snapshot) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int(C.ndsr_snapshot_count(s.s))
}

// Name is the name of child i ("" when out of range).
func (s *Snapshot) Name(i int) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i < 0 {
		return ""
	}
	return C.GoString(C.ndsr_snapshot_name(s.s, C.size_t(i)))
}

// ChildJSON is the data of child i as JSON (nil when out of range).
func (s *Snapshot) ChildJSON(i int) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n C.size_t
	if i < 0 {
		return nil
	}
	p := C.ndsr_snapshot_child_json(s.s, C.size_t(i), &n)
	if p == nil {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}

// ChildString is the string value of the top-level key of child i's data, and whether there is
// one.
func (s *Snapshot) ChildString(i int, key string) (string, bool) {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i < 0 {
		return "", false
	}
	p := C.ndsr_snapshot_child_str(s.s, C.size_t(i), ck)
	if p == nil {
		return "", false
	}
	return C.GoString(p), true
}

// ChildInt is the integer value of the top-level key of child i's data: an *Error with
// ENotFound when the child or the key is missing, EInvalidArgument when the value is not a
// 64-bit integer.
func (s *Snapshot) ChildInt(i int, key string) (int64, error) {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return 0, released()
	}
	if i < 0 {
		return 0, &Error{Code: ENotFound, Message: "no such child"}
	}
	var v C.int64_t
	var msg *C.char
	if err := toError(C.ndsr_go_snapshot_child_int(s.s, C.size_t(i), ck, &v, &msg), msg); err != nil {
		return 0, err
	}
	return int64(v), nil
}
