package ndsr

import (
	"strconv"
	"time"
)

// Options are Open's options with Go types, for OpenWith; the zero value of a field leaves the
// library's default. Each field names the C option it sets (see ndsr_options_set in ndsr.h).
type Options struct {
	// Timeout is the session timeout and the longest any call waits ("timeout_ms"; 100 ms to
	// 10 min).
	Timeout time.Duration
	// ReadOnly refuses every write and allows read-only servers ("readonly").
	ReadOnly bool
	// Lazy makes OpenWith return at once and connect in the background ("lazy").
	Lazy bool
	// OneShotWatches follows paths with one-shot watches instead of persistent ones
	// ("persistent_watches" false).
	OneShotWatches bool
	// KeepLastGood holds a shrink of a watched list this long ("keep_last_good_ms").
	KeepLastGood time.Duration
	// KeepLastGoodPercent: removals above this share are held ("keep_last_good_percent").
	KeepLastGoodPercent int
	// Username and Password are digest credentials ("username", "password").
	Username, Password string
	// ACL is the ACL of created nodes, "scheme:id:perms[,…]" ("acl").
	ACL string
	// RateLimitBurst and RateLimitPerSec limit the requests of the handle
	// ("rate_limit_burst", "rate_limit_per_sec").
	RateLimitBurst  int
	RateLimitPerSec float64
	// TLSCA, TLSCert and TLSKey are paths of PEM files ("tls_ca", "tls_cert", "tls_key").
	TLSCA, TLSCert, TLSKey string
	// CacheFile keeps last-known documents across restarts ("cachefile").
	CacheFile string
}

// OpenWith is Open with typed options.
func OpenWith(server string, o Options) (*Registry, error) {
	return Open(server, o.Map())
}

// Map gives the options as Open takes them (only those set).
func (o Options) Map() map[string]string {
	m := map[string]string{}
	set := func(key, value string, on bool) {
		if on {
			m[key] = value
		}
	}
	set("timeout_ms", strconv.FormatInt(o.Timeout.Milliseconds(), 10), o.Timeout != 0)
	set("readonly", "true", o.ReadOnly)
	set("lazy", "true", o.Lazy)
	set("persistent_watches", "false", o.OneShotWatches)
	set("keep_last_good_ms", strconv.FormatInt(o.KeepLastGood.Milliseconds(), 10), o.KeepLastGood != 0)
	set("keep_last_good_percent", strconv.Itoa(o.KeepLastGoodPercent), o.KeepLastGoodPercent != 0)
	set("username", o.Username, o.Username != "")
	set("password", o.Password, o.Password != "")
	set("acl", o.ACL, o.ACL != "")
	set("rate_limit_burst", strconv.Itoa(o.RateLimitBurst), o.RateLimitBurst != 0)
	set("rate_limit_per_sec", strconv.FormatFloat(o.RateLimitPerSec, 'g', -1, 64), o.RateLimitPerSec != 0)
	set("tls_ca", o.TLSCA, o.TLSCA != "")
	set("tls_cert", o.TLSCert, o.TLSCert != "")
	set("tls_key", o.TLSKey, o.TLSKey != "")
	set("cachefile", o.CacheFile, o.CacheFile != "")
	return m
}
