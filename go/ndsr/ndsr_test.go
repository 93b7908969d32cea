package ndsr

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var server string

// TestMain starts a ZooKeeper with the project's shared harness (tests/harness/zk.sh), unless
// NDSR_TEST_SERVER names one already.
func TestMain(m *testing.M) {
	server = os.Getenv("NDSR_TEST_SERVER")
	base := ""
	if server == "" {
		out, err := exec.Command("bash", "../../tests/harness/zk.sh", "start", "standalone").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting ZooKeeper:", err)
			os.Exit(2)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "BASE=") {
				base = l[5:]
			} else if strings.HasPrefix(l, "CONNECT=") {
				server = l[8:]
			}
		}
	}
	code := m.Run()
	if base != "" {
		exec.Command("bash", "../../tests/harness/zk.sh", base, "clean").Run()
	}
	os.Exit(code)
}

func open(t *testing.T) *Registry {
	t.Helper()
	r, err := Open(server, map[string]string{"timeout_ms": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

var runID = time.Now().UnixNano()
var roots int64

// testRoot is a path of the calling test's own, new on every run, so that `go test -count=N` and
// runs against one server (NDSR_TEST_SERVER) never see an earlier run's nodes.
func testRoot() string {
	return fmt.Sprintf("/go/%d-%d", runID, atomic.AddInt64(&roots, 1))
}

func code(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// next waits for a document satisfying pred (10 s at most).
func next(t *testing.T, ch <-chan *Document, pred func(*Document) bool) *Document {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case d := <-ch:
			if pred(d) {
				return d
			}
		case <-deadline:
			t.Fatal("no matching document within 10 s")
		}
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open("127.0.0.1:1", map[string]string{"timeout_ms": "400"})
	if code(err) != ENoConnection {
		t.Fatalf("got %v", err)
	}
	_, err = Open(server, map[string]string{"bogus": "1"})
	if code(err) != EInvalidArgument || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("got %v", err)
	}
	if Version() == "" {
		t.Fatal("no version")
	}
}

func TestRegisterAndGet(t *testing.T) {
	root := testRoot()
	r := open(t)
	if q, err := r.SetNode(root+"/svc/host1:80", map[string]int{"weight": 10}); err != nil || q {
		t.Fatal(q, err)
	}
	if _, err := r.SetData(root+"/conf", "a string"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetNode("bad", nil); code(err) != EInvalidArgument {
		t.Fatalf("got %v", err)
	}
	if _, err := r.SetNode(root+"/x", []int{1}); code(err) != EInvalidArgument {
		t.Fatalf("got %v", err)
	}
	d, err := r.Get(root + "/svc")
	if err != nil {
		t.Fatal(err)
	}
	if d.Path != root+"/svc" || d.Stat == nil || d.Stat.NumChildren != 1 || d.Data != nil {
		t.Fatalf("%+v", d)
	}
	if w := d.Children["host1:80"]["weight"]; w != float64(10) {
		t.Fatalf("weight %v in %s", w, d.Raw)
	}
	c, _ := r.Get(root + "/conf")
	if c.Data["string_value"] != "a string" {
		t.Fatal(c.Raw)
	}
	m, _ := r.Get(root + "/missing")
	if m.Stat != nil || len(m.Children) != 0 {
		t.Fatal(m.Raw)
	}
	if _, err := r.Unset(root + "/svc/host1:80"); err != nil {
		t.Fatal(err)
	}
}

func TestOnChangeOnStateAndPanics(t *testing.T) {
	root := testRoot()
	r := open(t)
	other := open(t)
	ch := make(chan *Document, 100)
	var panics int32
	sub, err := r.OnChange(root+"/watch", func(d *Document) {
		ch <- d
		if atomic.AddInt32(&panics, 1) == 2 {
			panic("a panicking callback is recovered")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, func(d *Document) bool { return d.Stat == nil })
	other.SetNode(root+"/watch/a", map[string]string{"v": "1"})
	next(t, ch, func(d *Document) bool { return d.Children["a"] != nil })
	other.SetNode(root+"/watch/b", nil)
	next(t, ch, func(d *Document) bool { return d.Children["b"] != nil })
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	sub.Close() // harmless
	states := make(chan State, 10)
	ssub, err := r.OnState(func(s State) { states <- s })
	if err != nil {
		t.Fatal(err)
	}
	defer ssub.Close()
	if s := <-states; s != Connected {
		t.Fatal(s)
	}
	// The ended subscription gets nothing more; a new one sees the latest state.
	other.Unset(root + "/watch/a")
	ch2 := make(chan *Document, 10)
	s2, _ := r.OnChange(root+"/watch", func(d *Document) { ch2 <- d })
	defer s2.Close()
	next(t, ch2, func(d *Document) bool { return d.Children["a"] == nil })
	if len(ch) != 0 {
		t.Fatalf("%d calls after Close", len(ch))
	}
}

// Callbacks keep working while the garbage collector runs all the time (and inside them).
func TestGCDuringCallbacks(t *testing.T) {
	root := testRoot()
	r := open(t)
	w := open(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	ch := make(chan *Document, 1000)
	sub, err := r.OnChange(root+"/gc", func(d *Document) {
		runtime.GC()
		ch <- d
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if _, err := w.SetData(root+"/gc", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	next(t, ch, func(d *Document) bool { return d.Data != nil && d.Data["i"] == float64(50) })
	sub.Close()
	close(stop)
	wg.Wait()
}

func TestCloseIdempotentRacingCallsAndNoFinalizer(t *testing.T) {
	root := testRoot()
	r, err := Open(server, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var calls int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := r.SetNode(fmt.Sprintf(root+"/race/g%d", g), map[string]int{"i": i})
				atomic.AddInt64(&calls, 1)
				if err != nil {
					if code(err) != EClosed {
						t.Errorf("unexpected %v", err)
					}
					return
				}
			}
		}(g)
	}
	for atomic.LoadInt64(&calls) < 200 { // close while calls are in flight
		runtime.Gosched()
	}
	r.Close()
	r.Close()
	wg.Wait()
	if _, err := r.Get(root); code(err) != EClosed {
		t.Fatalf("got %v", err)
	}
	if r.State() != Closed {
		t.Fatal(r.State())
	}

	// A registry nobody references is not collected: its registration stays until Close.
	watcher := open(t)
	ch := make(chan *Document, 10)
	sub, _ := watcher.OnChange(root+"/fin", func(d *Document) { ch <- d })
	defer sub.Close()
	func() {
		lost, err := Open(server, nil)
		if err != nil {
			t.Fatal(err)
		}
		lost.SetNode(root+"/fin/lost", nil)
	}()
	next(t, ch, func(d *Document) bool { return d.Children["lost"] != nil })
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case d := <-ch:
			if d.Children["lost"] == nil {
				t.Fatal("a registry with a registration was closed by the garbage collector")
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if d, err := watcher.Get(root + "/fin"); err != nil || d.Children["lost"] == nil {
		t.Fatalf("registration gone: %v %v", d, err)
	}
}

func TestLocks(t *testing.T) {
	root := testRoot()
	a, b := open(t), open(t)
	l, err := a.Lock(root+"/lock", "a", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(root+"/lock", "b", 1, 200*time.Millisecond); code(err) != ETimeout {
		t.Fatalf("got %v", err)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := b.Lock(root+"/lock", "b", 1, 30*time.Second)
		if err == nil {
			defer l2.Free()
			err = l2.Check()
		}
		got <- err
	}()
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); code(err) != ENotFound {
		t.Fatalf("got %v", err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the lock after release")
	}
	l.Free()
	l.Free()
	if err := l.Check(); code(err) != ENotFound {
		t.Fatalf("got %v", err)
	}
}

func TestLockContext(t *testing.T) {
	root := testRoot()
	a, b := open(t), open(t)
	held, err := a.Lock(root+"/ctxlock", "a", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := b.LockContext(ctx, root+"/ctxlock", "b", 1)
		got <- err
	}()
	time.Sleep(700 * time.Millisecond) // past the first attempt: the waiter is in its second
	start := time.Now()
	cancel()
	select {
	case err := <-got:
		if err != context.Canceled {
			t.Fatalf("LockContext after cancel: %v", err)
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Fatalf("LockContext took %v to see the cancellation", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LockContext did not end with its context")
	}
	// Once the holder lets go, a waiter with a live context takes it.
	go func() {
		time.Sleep(300 * time.Millisecond)
		held.Release()
	}()
	live, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	l, err := b.LockContext(live, root+"/ctxlock", "b", 1)
	if err != nil {
		t.Fatalf("LockContext: %v", err)
	}
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	l.Free()
	held.Free()
}

func TestDiffsAndSnapshots(t *testing.T) {
	root := testRoot()
	r := open(t)
	if _, err := r.SetNode(root+"/diff/a:1", map[string]interface{}{"port": 1, "host": "h1"}); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *Diff, 100)
	sub, err := r.OnDiff(root+"/diff", func(d *Diff) { ch <- d })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Debounce(0); err != nil {
		t.Fatalf("Debounce: %v", err)
	}
	defer sub.Close()
	wait := func(pred func(*Diff) bool) *Diff {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case d := <-ch:
				if pred(d) {
					return d
				}
			case <-deadline:
				t.Fatal("no matching diff within 10 s")
			}
		}
	}
	first := wait(func(d *Diff) bool { return true })
	if first.Added["a:1"]["host"] != "h1" || len(first.Removed) != 0 || first.Stat == nil {
		t.Fatal(first.Raw)
	}
	if _, err := r.SetNode(root+"/diff/b:2", map[string]interface{}{"port": 2}); err != nil {
		t.Fatal(err)
	}
	d := wait(func(d *Diff) bool { return len(d.Added) > 0 })
	if d.Added["b:2"]["port"] != float64(2) || d.Data != nil {
		t.Fatal(d.Raw)
	}
	if _, err := r.Unset(root + "/diff/a:1"); err != nil {
		t.Fatal(err)
	}
	d = wait(func(d *Diff) bool { return len(d.Removed) > 0 })
	if d.Removed["a:1"]["host"] != "h1" {
		t.Fatal(d.Raw)
	}

	s, err := r.Snapshot(root + "/diff")
	if err != nil {
		t.Fatal(err)
	}
	if s.Count() != 1 || s.Name(0) != "b:2" || s.Name(1) != "" || s.Name(-1) != "" {
		t.Fatal(s.JSON())
	}
	if v, err := s.ChildInt(0, "port"); err != nil || v != 2 {
		t.Fatal(v, err)
	}
	if _, err := s.ChildInt(0, "nope"); code(err) != ENotFound {
		t.Fatal(err)
	}
	if _, ok := s.ChildString(0, "port"); ok {
		t.Fatal("port is not a string")
	}
	if !strings.HasPrefix(string(s.ChildJSON(0)), "{") {
		t.Fatal(string(s.ChildJSON(0)))
	}
	doc, _ := r.Get(root + "/diff")
	if s.JSON() != doc.Raw {
		t.Fatal(s.JSON(), doc.Raw)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 500; k++ {
				if s.Count() != 1 || s.Name(0) != "b:2" {
					t.Error("a snapshot changed")
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Release(); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(); code(err) != EInvalidArgument {
		t.Fatal(err)
	}
	if s.Count() != 0 || s.JSON() != "" {
		t.Fatal("a released snapshot reads nothing")
	}
	if _, err := r.Snapshot("bad"); code(err) != EInvalidArgument {
		t.Fatal(err)
	}
}

func TestTheRestOfTheCAPI(t *testing.T) {
	root := testRoot()
	var mu sync.Mutex
	components := map[string]bool{}
	secret := false
	SetLogHandler(func(level int, component, message string) {
		mu.Lock()
		defer mu.Unlock()
		components[component] = true
		secret = secret || strings.Contains(message, "gosecret")
	}, 5)
	defer SetLogHandler(nil, 2)
	r := open(t)
	defer r.Close()
	if q, err := r.SetNode(root+"/extra/n1", nil); err != nil || q {
		t.Fatalf("SetNode: %v %v", q, err)
	}
	if q, err := r.RegistrationStatus(root + "/extra/n1"); err != nil || q {
		t.Fatalf("RegistrationStatus: %v %v", q, err)
	}
	if _, err := r.RegistrationStatus(root + "/extra/none"); code(err) != ENotFound {
		t.Fatalf("RegistrationStatus of an unknown path: %v", err)
	}
	if _, err := r.Get(root + "/extra"); err != nil {
		t.Fatal(err)
	}
	if live, since, err := r.Freshness(root + "/extra"); err != nil || !live || since.IsZero() {
		t.Fatalf("Freshness: %v %v %v", live, since, err)
	}
	if _, _, err := r.Freshness(root + "/never-read"); code(err) != ENotFound {
		t.Fatalf("Freshness of a path never read: %v", err)
	}
	if id, err := r.SessionID(); err != nil || id == 0 {
		t.Fatalf("SessionID: %v %v", id, err)
	}
	if s, err := r.StatsJSON(); err != nil || !strings.Contains(s, `"state":"connected"`) {
		t.Fatalf("StatsJSON: %q %v", s, err)
	}
	if s, err := r.StatsPrometheus(); err != nil || !strings.Contains(s, "ndsr_connected{") {
		t.Fatalf("StatsPrometheus: %q %v", s, err)
	}
	ticks := make(chan string, 100)
	tsub, err := r.OnStats(20*time.Millisecond, func(j string) {
		select {
		case ticks <- j:
		default:
		}
	})
	if err != nil {
		t.Fatalf("OnStats: %v", err)
	}
	select {
	case j := <-ticks:
		if !strings.Contains(j, `"requests":{`) {
			t.Fatalf("OnStats gave %q", j)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stats call")
	}
	tsub.Close()
	if _, err := r.OnStats(0, func(string) {}); code(err) != EInvalidArgument {
		t.Fatalf("OnStats(0): %v", err)
	}
	if q, err := r.Rebuild(); err != nil || q {
		t.Fatalf("Rebuild: %v %v", q, err)
	}
	other := open(t)
	defer other.Close()
	if err := r.AcquireLock(root+"/plock", "a", 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := other.AcquireLock(root+"/plock", "b", 1, 100*time.Millisecond); code(err) != ETimeout {
		t.Fatalf("a held lock: %v", err)
	}
	if err := r.ReleaseLock(root + "/plock"); err != nil {
		t.Fatal(err)
	}
	if err := other.AcquireLock(root+"/plock", "b", 1, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCredentials("gouser", "gosecret"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCredentials("bad:user", "x"); code(err) != EInvalidArgument {
		t.Fatalf("a bad username: %v", err)
	}
	r.Close()
	if _, err := r.SessionID(); code(err) != EClosed && code(err) != EInvalidArgument {
		t.Fatalf("SessionID after Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !components["session"] || secret {
		t.Fatalf("log handler: components %v, password logged %v", components, secret)
	}
}

func TestPickersAndWaitFor(t *testing.T) {
	root := testRoot()
	r := open(t)
	defer r.Close()
	if err := r.WaitFor(root+"/pick", 2, 100*time.Millisecond); code(err) != ETimeout {
		t.Fatalf("WaitFor on an empty service: %v", err)
	}
	r.SetNode(root+"/pick/a:1", map[string]int{"weight": 1})
	r.SetNode(root+"/pick/b:1", map[string]int{"weight": 3})
	r.SetNode(root+"/pick/c:1", map[string]string{"state": "draining"})
	if err := r.WaitFor(root+"/pick", 2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	count := func(p *Picker, n int, key func(int) string) map[string]int {
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			var name string
			var err error
			if key != nil {
				name, err = p.PickKey(key(i))
			} else {
				name, err = p.Pick()
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[name]++
		}
		return seen
	}
	rr, err := r.NewPicker(root+"/pick", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Free()
	if seen := count(rr, 40, nil); seen["a:1"] != 20 || seen["b:1"] != 20 || len(seen) != 2 {
		t.Fatalf("round robin: %v", seen)
	}
	w, err := r.NewPicker(root+"/pick", map[string]string{"strategy": "weighted"})
	if err != nil {
		t.Fatal(err)
	}
	if seen := count(w, 40, nil); seen["a:1"] != 10 || seen["b:1"] != 30 {
		t.Fatalf("weighted: %v", seen)
	}
	w.Free()
	w.Free()
	if _, err := w.Pick(); code(err) != EInvalidArgument {
		t.Fatalf("a freed picker: %v", err)
	}
	c, err := r.NewPicker(root+"/pick", map[string]string{"strategy": "consistent"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Free()
	first := count(c, 1, func(int) string { return "user-1" })
	if again := count(c, 5, func(int) string { return "user-1" }); len(again) != 1 || again[firstKey(first)] != 5 {
		t.Fatalf("consistent: %v then %v", first, again)
	}
	if _, err := c.Pick(); code(err) != EInvalidArgument {
		t.Fatalf("consistent without a key: %v", err)
	}
	if err := rr.Report("a:1", false); err != nil {
		t.Fatal(err)
	}
	if err := r.Drain(root+"/pick/none:1", 0); code(err) != ENotFound {
		t.Fatalf("Drain of no registration: %v", err)
	}
	if _, err := r.NewPicker(root+"/pick", map[string]string{"strategy": "fastest"}); code(err) != EInvalidArgument {
		t.Fatalf("a bad strategy: %v", err)
	}
	// Picks from many goroutines while the list changes.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if _, err := rr.Pick(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		r.SetNode(fmt.Sprintf(root+"/pick/n%d:1", i), nil)
	}
	wg.Wait()
}

func firstKey(m map[string]int) string {
	for k := range m {
		return k
	}
	return ""
}

func TestWatchContextAndDecodeChildren(t *testing.T) {
	root := testRoot()
	r := open(t)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	docs, err := r.Watch(ctx, root+"/watch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetNode(root+"/watch/a:1", map[string]int{"weight": 3}); err != nil {
		t.Fatal(err)
	}
	d := next(t, docs, func(d *Document) bool { return len(d.Children) == 1 })
	var instances map[string]struct {
		Weight int `json:"weight"`
	}
	if err := d.DecodeChildren(&instances); err != nil || instances["a:1"].Weight != 3 {
		t.Fatalf("DecodeChildren: %v %v", instances, err)
	}
	if err := r.WaitForContext(ctx, root+"/watch", 1); err != nil {
		t.Fatalf("WaitForContext, satisfied: %v", err)
	}
	short, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	started := time.Now()
	if err := r.WaitForContext(short, root+"/watch", 5); err != context.DeadlineExceeded {
		t.Fatalf("WaitForContext past its deadline: %v", err)
	}
	if took := time.Since(started); took > 2*time.Second {
		t.Fatalf("WaitForContext took %v for a 300 ms context", took)
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, more := <-docs:
			if !more {
				return // the channel is closed once the context is done
			}
		case <-deadline:
			t.Fatal("Watch's channel still open 5 s after the cancel")
		}
	}
}

// lateContext is a context whose deadline has passed but whose timer has not fired yet (Err is
// still nil): the moment a context-bounded wait computes its next slice from an expired deadline.
type lateContext struct{ context.Context }

func (lateContext) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

func TestContextWaitsPastTheirDeadlineBeforeTheTimerFires(t *testing.T) {
	root := testRoot()
	r := open(t)
	defer r.Close()
	late := lateContext{context.Background()}
	if err := r.WaitForContext(late, root+"/late", 5); err != context.DeadlineExceeded {
		t.Fatalf("WaitForContext: %v", err)
	}
	if l, err := r.LockContext(late, root+"/late-lock", "a", 1); err != context.DeadlineExceeded || l != nil {
		t.Fatalf("LockContext: %v %v", l, err)
	}
}

func TestOpenWithTypedOptions(t *testing.T) {
	root := testRoot()
	if _, err := OpenWith(server, Options{Timeout: 50 * time.Millisecond}); code(err) != EInvalidArgument {
		t.Fatalf("a 50 ms timeout: %v", err)
	}
	r, err := OpenWith(server, Options{Timeout: 5 * time.Second, ReadOnly: true, KeepLastGood: time.Second, RateLimitPerSec: 2.5, RateLimitBurst: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.SetNode(root+"/typed/a:1", nil); code(err) != EReadOnly {
		t.Fatalf("SetNode on a read-only handle: %v", err)
	}
	m := Options{Timeout: 1500 * time.Millisecond, OneShotWatches: true, RateLimitPerSec: 2.5}.Map()
	if m["timeout_ms"] != "1500" || m["persistent_watches"] != "false" || m["rate_limit_per_sec"] != "2.5" || len(m) != 3 {
		t.Fatalf("Map: %v", m)
	}
}
