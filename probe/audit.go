package probe

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/checks/servertext"
	"github.com/listprobe/listprobe/probe/config"
)

// An audit reads every list of a Mailman server, probed or not, for the
// settings that decide whether a member's post goes out, without posting:
// one request per 100 lists for /lists, then two per list (its
// configuration, its held queue's depth), paced to at most
// max_requests_per_second. A round starts every AuditConfig.Interval: the
// configured refresh, or longer when the round's requests need longer.

// AuditedList is what the last audit round read of one list.
type AuditedList struct {
	List   string
	Policy mailmanrest.ListPolicy
	Held   int
	// Read is when the list was last read whole; Err is the last read's
	// error (cleaned), "" when it worked. A failed read keeps the values
	// read before.
	Read time.Time
	Err  string
}

// auditor is the audit of one Mailman server.
type auditor struct {
	name   string
	key    string
	client *mailmanrest.Client
	logger *slog.Logger
	cfg    atomic.Pointer[config.AuditConfig]
	cancel context.CancelFunc
	next   time.Time // when the next request may go, at max_requests_per_second

	mu        sync.Mutex
	lists     map[string]*AuditedList
	up        bool      // the last paging through /lists worked
	skipped   int       // lists left out of the last round: max_lists or unusable names
	total     int       // lists the server has, as its /lists said
	roundEnd  time.Time // when the last whole round ended
	roundTook time.Duration
	roundReqs int     // requests the last whole round sent
	rounds    int     // whole rounds ended
	requests  float64 // REST requests sent, for the counter
	errors    float64 // of which failed
}

func newAuditor(name string, m *config.MailmanConfig, logger *slog.Logger) *auditor {
	a := &auditor{
		name: name,
		key:  mailmanKey(m),
		client: mailmanrest.New(mailmanrest.Options{
			URL: m.URL, Username: m.Username, Password: m.Password(),
			Client: &http.Client{Timeout: restTimeout, Transport: restTransport(m)},
		}),
		logger: logger.With("mailman", name, "audit", true),
		lists:  map[string]*AuditedList{},
	}
	a.cfg.Store(m.Audit)
	return a
}

// run audits every interval until ctx ends.
func (a *auditor) run(ctx context.Context) {
	for {
		start := time.Now()
		a.safely(func() { a.round(ctx) })
		a.mu.Lock()
		total, n := a.total, len(a.lists)
		a.mu.Unlock()
		wait := time.Until(start.Add(a.cfg.Load().Interval(total, n)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *auditor) safely(f func()) {
	defer func() {
		if p := recover(); p != nil {
			a.logger.Error("audit round panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	f()
}

// request waits for its turn, then sends one request with f and counts
// it. Requests are sent one at a time, each at least 1/max_requests_per_second
// after the one before started: never more than that many in any second,
// and fewer when the server answers slower.
func (a *auditor) request(ctx context.Context, f func(context.Context) error) error {
	if wait := time.Until(a.next); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	a.next = time.Now().Add(time.Duration(float64(time.Second) / a.cfg.Load().MaxRequestsPerSecond))
	rctx, cancel := context.WithTimeout(ctx, restTimeout)
	err := f(rctx)
	cancel()
	a.mu.Lock()
	a.requests++
	if err != nil && ctx.Err() == nil {
		a.errors++
	}
	a.mu.Unlock()
	return err
}

// round pages through /lists, then reads each audited list; each list's
// values are published as soon as they are read.
func (a *auditor) round(ctx context.Context) {
	start := time.Now()
	a.mu.Lock()
	sent := a.requests
	a.mu.Unlock()
	lists, total, skipped, err := a.discover(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.logger.Warn("listing the server's lists failed; keeping the last round's lists", "err", err)
			a.mu.Lock()
			a.up = false
			a.mu.Unlock()
		}
		return
	}
	a.mu.Lock()
	a.up, a.skipped, a.total = true, skipped, total
	keep := make(map[string]bool, len(lists))
	for _, l := range lists {
		keep[l] = true
	}
	for l := range a.lists {
		if !keep[l] {
			delete(a.lists, l)
		}
	}
	a.mu.Unlock()
	for _, l := range lists {
		if ctx.Err() != nil {
			return
		}
		a.readList(ctx, l)
	}
	a.mu.Lock()
	a.roundEnd, a.roundTook, a.roundReqs = time.Now(), time.Since(start), int(a.requests-sent)
	a.rounds++
	a.mu.Unlock()
}

// discover returns the audited lists of the server, in its order, at most
// max_lists, and how many were left out for that or for an unusable name.
func (a *auditor) discover(ctx context.Context) (lists []string, total, skipped int, err error) {
	cfg := a.cfg.Load()
	seen := map[string]bool{}
	for page := 1; ; page++ {
		var got []string
		var bad int
		err := a.request(ctx, func(ctx context.Context) (err error) {
			got, total, bad, err = a.client.ListsPage(ctx, page, mailmanrest.ListsPageSize)
			return err
		})
		if err != nil {
			return nil, 0, 0, err
		}
		skipped += bad
		for _, l := range got {
			if seen[l] || !cfg.Audited(l) {
				continue
			}
			seen[l] = true
			if len(lists) >= cfg.MaxLists {
				skipped++
				continue
			}
			lists = append(lists, l)
		}
		// A server that keeps answering full pages past its own total
		// stops here too; one that claims endless lists is read up to ten
		// times max_lists, the rest counted as skipped.
		if len(got)+bad < mailmanrest.ListsPageSize || page*mailmanrest.ListsPageSize >= total {
			return lists, total, skipped, nil
		}
		if page >= maxAuditPages(cfg.MaxLists) {
			skipped += total - page*mailmanrest.ListsPageSize
			return lists, total, skipped, nil
		}
	}
}

// maxAuditPages bounds the pages of /lists one round reads.
func maxAuditPages(maxLists int) int {
	return 10 * ((maxLists + mailmanrest.ListsPageSize - 1) / mailmanrest.ListsPageSize)
}

// readList reads one list's policy and held queue depth.
func (a *auditor) readList(ctx context.Context, list string) {
	var pol mailmanrest.ListPolicy
	var held int
	err := a.request(ctx, func(ctx context.Context) (err error) {
		pol, err = a.client.Policy(ctx, list)
		return err
	})
	if err == nil {
		err = a.request(ctx, func(ctx context.Context) (err error) {
			held, err = a.client.HeldCount(ctx, list)
			return err
		})
	}
	if ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case mailmanrest.IsNotFound(err):
		delete(a.lists, list) // deleted since the paging
	case err != nil:
		a.logger.Warn("auditing a list failed", "list", list, "err", err)
		if l := a.lists[list]; l != nil {
			l.Err = servertext.Clean(err.Error(), 200)
		} else {
			a.lists[list] = &AuditedList{List: list, Err: servertext.Clean(err.Error(), 200)}
		}
	default:
		a.lists[list] = &AuditedList{List: list, Policy: pol, Held: held, Read: time.Now()}
	}
}

// interval is the time between the starts of two rounds in force: the
// configured one, or the last round's length when the server answered
// slower than max_requests_per_second allows. Call with a.mu held.
func (a *auditor) interval(cfg *config.AuditConfig) time.Duration {
	return max(cfg.Interval(a.total, len(a.lists)), a.roundTook)
}

// AuditSummary is one server's audit as the status page and check-config
// show it.
type AuditSummary struct {
	Server    string
	Up        bool
	Skipped   int
	Total     int // lists on the server
	RoundEnd  time.Time
	RoundTook time.Duration
	Requests  int // the last whole round's REST requests
	Interval  time.Duration
	Lists     []AuditedList // sorted by address
	Config    *config.AuditConfig
}

// summary copies the audit's state.
func (a *auditor) summary() AuditSummary {
	cfg := a.cfg.Load()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := AuditSummary{Server: a.name, Up: a.up, Skipped: a.skipped, RoundEnd: a.roundEnd, RoundTook: a.roundTook, Requests: a.roundReqs,
		Total: a.total, Interval: a.interval(cfg), Config: cfg, Lists: make([]AuditedList, 0, len(a.lists))}
	for _, l := range a.lists {
		s.Lists = append(s.Lists, *l)
	}
	sort.Slice(s.Lists, func(i, j int) bool { return s.Lists[i].List < s.Lists[j].List })
	return s
}

// auditors is the service's set of audits, one per Mailman server with
// `audit:`, reconciled with each configuration.
type auditors struct {
	logger *slog.Logger
	ctx    context.Context
	wg     sync.WaitGroup

	mu sync.Mutex
	m  map[string]*auditor
}

// reconcile starts, restarts (new URL or credentials) or stops the audits
// of cfg's servers; a changed audit block alone takes effect at once, the
// lists read so far kept.
func (as *auditors) reconcile(cfg *config.Config) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.m == nil {
		as.m = map[string]*auditor{}
	}
	for name, m := range cfg.Mailman {
		old := as.m[name]
		if m.Audit == nil {
			continue
		}
		if old != nil && old.key == mailmanKey(m) {
			old.cfg.Store(m.Audit)
			continue
		}
		if old != nil {
			old.cancel()
		}
		a := newAuditor(name, m, as.logger)
		as.start(a)
		as.m[name] = a
	}
	for name, a := range as.m {
		if m := cfg.Mailman[name]; m == nil || m.Audit == nil {
			a.cancel()
			delete(as.m, name)
		}
	}
}

func (as *auditors) start(a *auditor) {
	ctx, cancel := context.WithCancel(as.ctx)
	a.cancel = cancel
	as.wg.Add(1)
	go func() {
		defer as.wg.Done()
		defer a.client.CloseIdleConnections()
		a.run(ctx)
	}()
}

// list returns the audits, sorted by server.
func (as *auditors) list() []*auditor {
	as.mu.Lock()
	defer as.mu.Unlock()
	out := make([]*auditor, 0, len(as.m))
	for _, a := range as.m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *auditor) int { return strings.Compare(x.name, y.name) })
	return out
}

func (as *auditors) stop() {
	as.mu.Lock()
	m := as.m
	as.m = nil
	as.mu.Unlock()
	for _, a := range m {
		a.cancel()
	}
	as.wg.Wait()
}

// applyAudit starts the audits of cfg, the whole config: an audit reads a
// whole server, so with shards only shard 0 audits, and `once` (which
// probes a few lists and stops) none.
func (s *Service) applyAudit(cfg *config.Config) {
	if s.audits.ctx == nil || !s.claim || s.opts.ShardCount > 1 && s.opts.ShardIndex != 0 {
		return
	}
	s.audits.reconcile(cfg)
}

// Audits returns what each server's audit read last, sorted by server.
func (s *Service) Audits() []AuditSummary {
	var out []AuditSummary
	for _, a := range s.audits.list() {
		out = append(out, a.summary())
	}
	return out
}
