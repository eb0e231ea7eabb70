package authn

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// TXTResolver looks up DNS TXT records. *Resolver and *net.Resolver
// implement it.
//
// Errors are returned as *net.DNSError where the lookup itself failed, so
// that a temporary failure (timeout, SERVFAIL) can be told from a name that
// does not exist (IsNotFound).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

var _ TXTResolver = (*Resolver)(nil)
var _ TXTResolver = (*net.Resolver)(nil)

// ResolverOptions configures a Resolver. The zero value asks the system's
// resolver (resolv.conf) with the defaults below.
type ResolverOptions struct {
	// Server is the DNS server to ask, "host:port" or a bare address (port
	// 53). Empty: the servers of the system's resolv.conf.
	Server string
	// Timeout bounds one lookup, retries included. Default 2s.
	Timeout time.Duration
	// CacheTTL is how long an answer (or a name that does not exist) is
	// kept. Go's resolver does not expose a record's own TTL, so this is a
	// fixed bound: a key removed from DNS is noticed at most CacheTTL
	// later. Temporary failures are never cached. Default 1 minute;
	// negative: no cache.
	CacheTTL time.Duration
	// CacheSize caps the cached names; the least recently used goes first.
	// Default 10,000.
	CacheSize int
}

// Defaults of ResolverOptions.
const (
	DefaultDNSTimeout   = 2 * time.Second
	DefaultDNSCacheTTL  = time.Minute
	DefaultDNSCacheSize = 10000
)

// Resolver is a TXT resolver with a per-lookup timeout and a bounded cache,
// safe for concurrent use. It asks the configured server through Go's own
// resolver (net.Resolver with PreferGo), over UDP with TCP on truncation.
type Resolver struct {
	net     *net.Resolver
	server  string // the configured server, "" for the system's
	timeout time.Duration
	ttl     time.Duration
	size    int
	now     func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recently used first
	names map[string]*list.Element
}

type cacheEntry struct {
	name    string
	txts    []string
	err     error // a *net.DNSError with IsNotFound, or nil
	expires time.Time
}

// NewResolver returns a resolver for opts; it fails on a server address
// that is not "host:port" or an IP address.
func NewResolver(opts ResolverOptions) (*Resolver, error) {
	r := &Resolver{
		timeout: opts.Timeout,
		ttl:     opts.CacheTTL,
		size:    opts.CacheSize,
		now:     time.Now,
		lru:     list.New(),
		names:   make(map[string]*list.Element),
	}
	if r.timeout <= 0 {
		r.timeout = DefaultDNSTimeout
	}
	if r.ttl == 0 {
		r.ttl = DefaultDNSCacheTTL
	}
	if r.size <= 0 {
		r.size = DefaultDNSCacheSize
	}
	r.net = &net.Resolver{PreferGo: true}
	if opts.Server != "" {
		server, err := serverAddress(opts.Server)
		if err != nil {
			return nil, err
		}
		r.server = server
		r.net.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}
	}
	return r, nil
}

// serverAddress accepts "host:port", "[v6]:port" or a bare IP address.
func serverAddress(s string) (string, error) {
	if ip := net.ParseIP(s); ip != nil {
		return net.JoinHostPort(s, "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("DNS server %q: want host:port or an IP address", s)
	}
	return s, nil
}

// LookupTXT returns the TXT records of name, one string per record (the
// record's strings joined), from the cache when it holds a fresh answer.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	if txts, err, ok := r.cached(key); ok {
		return txts, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	txts, err := r.net.LookupTXT(ctx, key+".")
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && r.server != "" {
		// Go names the resolv.conf server it would have dialled.
		dnsErr.Server = r.server
	}
	switch {
	case err == nil:
		r.store(key, txts, nil)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound && !dnsErr.IsTemporary && !dnsErr.IsTimeout:
		r.store(key, nil, dnsErr)
	}
	return txts, err
}

func (r *Resolver) cached(key string) ([]string, error, bool) {
	if r.ttl < 0 {
		return nil, nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.names[key]
	if !ok {
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !r.now().Before(e.expires) {
		r.lru.Remove(el)
		delete(r.names, key)
		return nil, nil, false
	}
	r.lru.MoveToFront(el)
	return append([]string(nil), e.txts...), e.err, true
}

func (r *Resolver) store(key string, txts []string, err error) {
	if r.ttl < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := &cacheEntry{name: key, txts: append([]string(nil), txts...), err: err, expires: r.now().Add(r.ttl)}
	if el, ok := r.names[key]; ok {
		el.Value = e
		r.lru.MoveToFront(el)
		return
	}
	r.names[key] = r.lru.PushFront(e)
	for r.lru.Len() > r.size {
		last := r.lru.Back()
		r.lru.Remove(last)
		delete(r.names, last.Value.(*cacheEntry).name)
	}
}

// cacheLen reports the number of cached names (for tests).
func (r *Resolver) cacheLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

// ErrLookupCap is returned, wrapped, once a message has used its DNS
// lookups (Options.MaxLookups): a message that names more keys and
// policies than any real one is garbage, and is judged without them.
var ErrLookupCap = errors.New("DNS lookup cap reached")

// lookups is one message's view of the resolver: each distinct name is
// asked once, at most max names are asked, and every lookup ends with ctx.
// Its txt method has the signature go-msgauth's LookupTXT options want and
// is safe for the concurrent calls of its parallel verification.
type lookups struct {
	ctx context.Context
	r   TXTResolver
	max int

	mu      sync.Mutex
	answers map[string]*lookupAnswer
}

type lookupAnswer struct {
	done chan struct{} // closed when txts and err are set
	txts []string
	err  error
}

func newLookups(ctx context.Context, r TXTResolver, max int) *lookups {
	return &lookups{ctx: ctx, r: r, max: max, answers: make(map[string]*lookupAnswer)}
}

// txt looks name up. A failure is a *net.DNSError, unwrapped, whose
// Temporary method says whether it may go away: go-msgauth tells temporary
// failures by type assertion.
func (l *lookups) txt(name string) ([]string, error) {
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	if !plausibleName(key) {
		return nil, &net.DNSError{Err: "not a valid DNS name", Name: name, IsNotFound: true}
	}
	l.mu.Lock()
	if a, ok := l.answers[key]; ok {
		l.mu.Unlock()
		<-a.done
		return a.txts, a.err
	}
	if len(l.answers) >= l.max {
		l.mu.Unlock()
		return nil, fmt.Errorf("%s: %w (%d names per message)", name, ErrLookupCap, l.max)
	}
	a := &lookupAnswer{done: make(chan struct{})}
	l.answers[key] = a
	l.mu.Unlock()

	if l.r == nil {
		a.err = &net.DNSError{Err: "no DNS resolver configured", Name: name, IsTemporary: true}
	} else {
		a.txts, a.err = l.r.LookupTXT(l.ctx, key)
	}
	if isTemporary(a.err) {
		a.err = temporaryError(name, a.err)
	}
	close(a.done)
	return a.txts, a.err
}

// temporaryError makes err a *net.DNSError that says it is temporary.
func temporaryError(name string, err error) error {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.Temporary() {
		return dnsErr
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true, IsTimeout: errors.Is(err, context.DeadlineExceeded)}
}

// isTemporary reports whether err is a DNS failure that may go away: a
// timeout, SERVFAIL, a refused or unreachable server, or the message's
// context ending.
func isTemporary(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return !dnsErr.IsNotFound || dnsErr.IsTemporary || dnsErr.IsTimeout
		}
		return ne.Timeout()
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// plausibleName reports whether s can be a DNS name worth asking about:
// at most 253 bytes, labels of 1 to 63 letters, digits, '-' or '_'.
func plausibleName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
