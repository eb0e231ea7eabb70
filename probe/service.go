package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/checks/token"
)

// Options tune a Service. The zero value is what `serve` uses by default.
type Options struct {
	// ShardIndex and ShardCount select this replica's lists by a stable
	// hash of the list address; ShardCount 0 or 1 selects every list.
	ShardIndex, ShardCount int
	// MaxInFlight caps the probes in flight at once, scheduled and
	// on-demand together. Default 64.
	MaxInFlight int
	// OnDemandMinInterval is the shortest time between two on-demand
	// probes of one list (/probe): requests within it get the last result.
	// Default 1m.
	OnDemandMinInterval time.Duration
	// EnableProbe serves GET /probe; EnableLifecycle serves POST /-/reload.
	// Both make listprobe act on a request, so both are off by default.
	EnableProbe, EnableLifecycle bool
	// FailFast makes a probe give up at the first failed login of a
	// mailbox it needs instead of waiting for it to heal (for `once`).
	FailFast bool
	// Load are the options the configuration file is loaded with; nil
	// for the defaults (the built-in demo allows shorter schedules).
	Load *LoadOptions
	// Instance names this process among those sharing a signing key, so
	// that after a restart it recognises the probes its earlier run sent
	// (their late copies are counted and cleaned up). Default: the host
	// name and shard index.
	Instance string
}

// Defaults of Options.
const (
	DefaultMaxInFlight         = 64
	DefaultOnDemandMinInterval = time.Minute
)

// Service is listprobe at work: it owns the mailbox sessions (one per
// account), the Mailman watchers (one per server), the registry of probes,
// the schedule, the metrics and the history. A reload swaps the
// configuration and reconciles the sessions; probes in flight keep theirs.
// All reloads go through Run's goroutine.
type Service struct {
	file    string
	opts    Options
	logger  *slog.Logger
	metrics *Metrics
	history *History

	reg      *registry
	sessions *sessions
	mailman  *mailmanWatchers
	stages   []stage // nil: probeStages; tests replace them
	ondemand onDemand

	cfg     atomic.Pointer[Config]
	started time.Time
	ctx     context.Context // the service's lifetime, set by Start
	cancel  context.CancelFunc
	probes  sync.WaitGroup // every probe in flight
	slots   chan struct{}  // MaxInFlight

	mu      sync.Mutex
	loaded  time.Time
	cron    *cron.Cron
	running map[string]bool      // lists with a scheduled probe in flight
	limits  map[string]time.Time // list -> when the poster was told "no more notices today"

	reloads chan chan error
	ready   atomic.Bool
	claim   bool // recognise probes of an earlier run of this process (serve)
}

// NewService returns a service for the config file; Run starts it. opts may
// be nil for the defaults.
func NewService(file string, logger *slog.Logger, opts *Options) *Service {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.OnDemandMinInterval <= 0 {
		o.OnDemandMinInterval = DefaultOnDemandMinInterval
	}
	if o.Instance == "" {
		host, _ := os.Hostname()
		o.Instance = fmt.Sprintf("%s/%d", host, o.ShardIndex)
	}
	return &Service{
		file:    file,
		opts:    o,
		logger:  logger,
		metrics: NewMetrics(),
		history: NewHistory(10, 50),
		reg:     newRegistry(),
		slots:   make(chan struct{}, o.MaxInFlight),
		running: map[string]bool{},
		limits:  map[string]time.Time{},
		reloads: make(chan chan error),
		started: time.Now(),
	}
}

// Metrics returns the service's metrics.
func (s *Service) Metrics() *Metrics { return s.metrics }

// History returns the service's recent results.
func (s *Service) History() *History { return s.history }

// Config returns the running configuration (this replica's lists only), nil
// before one is loaded.
func (s *Service) Config() *Config { return s.cfg.Load() }

// Ready reports whether a configuration is loaded and scheduled.
func (s *Service) Ready() bool { return s.ready.Load() }

// Run loads the configuration, starts the sessions and the schedule, and
// serves reload requests until ctx ends; then it waits for the probes in
// flight and the sessions to end. It returns an error only when the first
// load fails.
func (s *Service) Run(ctx context.Context) error {
	cfg, err := s.load()
	if err != nil {
		s.metrics.Reloaded(false)
		return err
	}
	s.claim = true
	s.Start(ctx, cfg)
	s.schedule()
	s.metrics.Reloaded(true)
	s.ready.Store(true)
	for {
		select {
		case <-ctx.Done():
			s.ready.Store(false)
			s.Stop()
			return nil
		case reply := <-s.reloads:
			reply <- s.reload()
		}
	}
}

// Start starts the sessions and watchers for cfg, without a schedule:
// probes run through ProbeNow (and Once). Stop ends them.
func (s *Service) Start(ctx context.Context, cfg *Config) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.sessions = newSessions(s.ctx, s.logger, s.metrics, s.onMessage)
	if s.claim {
		// What an earlier run may have left: copies of probes sent within
		// the longest timeout before this start.
		longest := time.Duration(0)
		for _, l := range cfg.Lists {
			longest = max(longest, l.EffectiveTimeout(cfg.Global))
		}
		s.sessions.reportSince = s.started.Add(-longest - time.Minute)
	}
	s.mailman = &mailmanWatchers{logger: s.logger, metrics: s.metrics, reg: s.reg, ctx: s.ctx}
	s.apply(cfg)
	s.sessions.reportSince = time.Time{}
}

// Stop stops the schedule, ends the probes in flight (as error: cancelled),
// then the sessions and watchers, and waits for all of them.
func (s *Service) Stop() {
	s.mu.Lock()
	c := s.cron
	s.cron = nil
	s.mu.Unlock()
	if c != nil {
		c.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.probes.Wait()
	if s.sessions != nil {
		s.sessions.stop()
	}
	if s.mailman != nil {
		s.mailman.stop()
	}
}

// Reload asks Run to reload the configuration file and waits for the result.
// On failure the running configuration stays.
func (s *Service) Reload(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.reloads <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// load reads the configuration file with the service's load options.
func (s *Service) load() (*Config, error) {
	if s.opts.Load != nil {
		return LoadFileWith(s.file, s.opts.Load)
	}
	return LoadFile(s.file)
}

func (s *Service) reload() error {
	cfg, err := s.load()
	if err != nil {
		s.metrics.Reloaded(false)
		s.logger.Error("config reload failed, keeping the running config", "file", s.file, "err", err)
		return err
	}
	s.apply(cfg)
	s.schedule()
	s.metrics.Reloaded(true)
	s.logger.Info("config reloaded", "file", s.file, "lists", len(s.Config().Lists))
	return nil
}

// apply makes cfg (this replica's share of it) the running configuration:
// the metrics' series, the sessions and the Mailman watchers follow it.
func (s *Service) apply(cfg *Config) {
	if s.opts.ShardCount > 1 {
		cfg = cfg.subset(shardLists(cfg.Lists, s.opts.ShardIndex, s.opts.ShardCount))
	}
	s.metrics.Configure(cfg)
	s.sessions.reconcile(cfg)
	s.mailman.reconcile(cfg)
	s.cfg.Store(cfg)
	keep := make(map[string]bool, len(cfg.Lists))
	for _, l := range cfg.Lists {
		keep[l.Address] = true
	}
	s.history.Retain(func(l string) bool { return keep[l] })
	s.mu.Lock()
	s.loaded = time.Now()
	for l := range s.limits {
		if !keep[l] {
			delete(s.limits, l)
		}
	}
	s.mu.Unlock()
	s.logger.Info("config loaded", "file", cfg.File, "lists", len(cfg.Lists), "accounts", len(cfg.Accounts))
	for _, w := range cfg.Warnings() {
		s.logger.Warn("config: "+w.Msg, "file", w.File, "line", w.Line, "field", w.Field)
	}
}

// schedule replaces the schedule with cfg's. Probes the old schedule started
// go on; a list's probes never overlap, across reloads too.
func (s *Service) schedule() {
	cfg := s.Config()
	c := cron.New(cron.WithLogger(cronLogger{s.logger}))
	for _, l := range cfg.Lists {
		jitter := jitterFor(l.Address, l.Interval())
		c.Schedule(l.CronSchedule(), cron.FuncJob(func() { s.scheduled(l.Address, jitter) }))
	}
	s.mu.Lock()
	old := s.cron
	s.cron = c
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	c.Start()
}

// scheduled runs one scheduled probe of a list, after its jitter, unless its
// previous probe is still in flight.
func (s *Service) scheduled(list string, jitter time.Duration) {
	s.mu.Lock()
	if s.running[list] || s.ctx.Err() != nil {
		s.mu.Unlock()
		s.logger.Debug("skipping a scheduled probe: the previous one is still in flight", "list", list)
		return
	}
	s.running[list] = true
	s.probes.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, list)
		s.mu.Unlock()
		s.probes.Done()
	}()
	select {
	case <-time.After(jitter):
	case <-s.ctx.Done():
		return
	}
	// The configuration of the moment the probe starts: a list removed
	// by a reload during the jitter is not probed.
	cfg := s.Config()
	l := cfg.List(list)
	if l == nil {
		return
	}
	s.runProbe(cfg, l)
}

// runProbe runs one probe once a slot is free. MaxInFlight bounds the
// probes being posted (waiting for sessions, composing, talking SMTP), and
// waiting lists are served in turn; a probe gives its slot back once the
// post is handed over, since waiting for the outcome costs nothing but a
// registry entry, and a list server that holds or drops every post must
// not starve the other lists of slots.
func (s *Service) runProbe(cfg *Config, l *ListConfig) *Result {
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return &Result{List: l.Address, Expected: l.Expect, Outcome: Error, Reason: "listprobe stopped before the probe could start"}
	}
	var once sync.Once
	release := func() { once.Do(func() { <-s.slots }) }
	defer release()
	return s.safeProbe(cfg, l, release)
}

// safeProbe runs a probe and turns a panic outside its stages into an error
// outcome, so that the process and the other lists' probes go on.
func (s *Service) safeProbe(cfg *Config, l *ListConfig, releaseSlot func()) (res *Result) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("probe panicked", "list", l.Address, "panic", p, "stack", string(debug.Stack()))
			res = &Result{List: l.Address, Expected: l.Expect, Outcome: Error, Evidence: "listprobe internal error",
				Reason: readable(fmt.Sprintf("internal error: %v", p)), Started: time.Now(), Finished: time.Now()}
			s.metrics.Record(res)
			s.history.Add(res)
		}
	}()
	return s.probe(s.ctx, cfg, l, releaseSlot)
}

// jitterFor spreads lists that share a schedule over up to a tenth of its
// interval (at most a minute), the same offset for a list every time, so
// they do not all post in the same second.
func jitterFor(list string, interval time.Duration) time.Duration {
	span := min(interval/10, time.Minute)
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(list))
	return time.Duration(h.Sum64() % uint64(span))
}

// shardLists returns the lists that shard index of count probes: each list
// goes to the shard with the highest hash of (list, shard), rendezvous
// hashing, so that changing the count moves only the lists that must move.
func shardLists(lists []*ListConfig, index, count int) []*ListConfig {
	var out []*ListConfig
	for _, l := range lists {
		if shardOf(l.Address, count) == index {
			out = append(out, l)
		}
	}
	return out
}

func shardOf(list string, count int) int {
	best, bestH := 0, uint64(0)
	for i := range count {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%d", strings.ToLower(list), i)
		if v := mix64(h.Sum64()); i == 0 || v > bestH {
			best, bestH = i, v
		}
	}
	return best
}

// mix64 is SplitMix64's finalizer: FNV alone spreads the weights of
// similar keys too little for rendezvous hashing to be fair.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// ProbeNow runs one probe of list now with the running configuration, as
// GET /probe does: concurrent requests for a list share the probe in
// flight, and within OnDemandMinInterval of the last on-demand probe the
// request gets that probe's result (age says how old it is) instead of a
// new post. The probe goes on if ctx ends first; its outcome is recorded.
func (s *Service) ProbeNow(ctx context.Context, list string) (res *Result, age time.Duration, err error) {
	cfg := s.Config()
	if cfg == nil {
		return nil, 0, errors.New("no configuration loaded yet")
	}
	l := cfg.List(list)
	if l == nil {
		return nil, 0, fmt.Errorf("list %q is not configured", list)
	}
	return s.ondemand.do(ctx, l.Address, s.opts.OnDemandMinInterval, func() *Result {
		s.probes.Add(1)
		defer s.probes.Done()
		return s.runProbe(cfg, l)
	})
}

// Once probes the lists of cfg now, in parallel, and returns their results
// in order: what `listprobe once` does. Only the sessions the lists need are
// opened, and a mailbox that refuses the first login fails its probes at
// once. progress, when not nil, is told when the probe of lists[i] starts
// (done false) and ends (done true).
func Once(ctx context.Context, cfg *Config, lists []*ListConfig, logger *slog.Logger, opts *Options, progress func(i int, done bool)) []*Result {
	if progress == nil {
		progress = func(int, bool) {}
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.FailFast = true
	if o.Instance == "" {
		// A random identity: no later run claims these probes.
		var b [8]byte
		rand.Read(b[:])
		o.Instance = fmt.Sprintf("once/%x", b)
	}
	s := NewService("", logger, &o)
	s.Start(ctx, cfg.subset(lists))
	defer s.Stop()
	results := make([]*Result, len(lists))
	var wg sync.WaitGroup
	for i, l := range lists {
		wg.Add(1)
		s.probes.Add(1)
		go func() {
			defer wg.Done()
			defer s.probes.Done()
			progress(i, false)
			results[i] = s.runProbe(s.Config(), s.Config().List(l.Address))
			progress(i, true)
		}()
	}
	wg.Wait()
	return results
}

// onMessage classifies a new message of a mailbox session and routes it: to
// the pending probe it names, as a late copy of a finished one, or nowhere.
// Only messages proven to be listprobe's own are ever deleted.
func (s *Service) onMessage(box *mailboxSession, msg imapwatch.Message) {
	cfg := s.Config()
	if cfg == nil {
		return
	}
	account := box.name
	ev := checks.Classify(msg.Header, msg.Body)
	if ev.Kind == checks.KindNoticeLimit {
		s.noticeLimit(cfg, account, ev, msg.SeenAt)
	}
	if ev.ByTime && ev.Kind == checks.KindHoldNotice {
		s.matchByTime(cfg, account, ev, msg)
		return
	}
	if ev.Kind == checks.KindUnrelated || len(ev.Tokens) == 0 {
		return
	}
	type named struct {
		tok     token.Token
		pending *pendingProbe
		known   bool
		list    string // the probe's list and poster, as configured
		poster  string
	}
	var probes []named
	for _, enc := range ev.Tokens {
		claimed, err := token.Parse(enc)
		if err != nil {
			continue
		}
		p, f, known := s.reg.lookup(claimed.ID)
		signer := cfg.signer
		switch {
		case p != nil:
			signer = p.cfg.signer
		case known:
			signer = f.signer
		}
		tok, err := signer.Verify(enc)
		if errors.Is(err, token.ErrForged) {
			s.metrics.Forged(account)
			s.logger.Warn("message with a forged probe token", "account", account, "uid", msg.UID, "kind", ev.Kind, "message_id", readable(msg.Header.Get("Message-Id")))
			return
		}
		if err != nil {
			continue
		}
		if !known && s.fromEarlierRun(cfg, tok) {
			s.reg.claim(tok.ID, cfg.List(tok.List).Address, tok.SentAt, cfg.signer)
			p, _, known = s.reg.lookup(tok.ID)
		}
		n := named{tok: tok, pending: p, known: known}
		lc, pc := cfg, cfg
		if p != nil {
			lc, pc = p.cfg, p.cfg
		}
		if l := lc.List(tok.List); l != nil {
			n.list = l.Address
			if a := pc.Accounts[l.Poster]; a != nil {
				n.poster = a.Address
			}
		}
		probes = append(probes, n)
	}
	if len(probes) == 0 {
		return
	}
	// A message that also names a probe that is not this process's (another
	// listprobe's, an old run's) is never deleted: it may be all that
	// process has to go on.
	foreign := false
	for _, n := range probes {
		foreign = foreign || !n.known
	}
	var hops []checks.Hop
	if ev.Kind == checks.KindProbeCopy {
		hops = checks.Hops(msg.Header)
	}
	cleanupNow := false
	deletable := !foreign
	for _, n := range probes {
		// A verified token is necessary, not sufficient: a person's
		// forward or reply, a digest, carry one too. Only the list's own
		// copy counts as a delivery, and only what the list server wrote
		// about the probe may be deleted.
		if ev.Kind == checks.KindProbeCopy && !ev.IsCopyOf(n.list, n.poster) {
			s.logger.Debug("message names a probe but is not the list's copy of it (a forward, a reply, a digest): left alone", "account", account, "uid", msg.UID, "list", n.list)
			return
		}
		deletable = deletable && ev.Deletable(n.list, n.poster)
	}
	for _, n := range probes {
		e := evidence{kind: ev.Kind, manager: ev.Manager, reason: readable(ev.Reason), account: account,
			seenAt: msg.SeenAt, uid: msg.UID, uidv: msg.UIDValidity, deletable: deletable,
			approved: ev.Approved, approvedAt: ev.ApprovedAt, recipient: ev.Recipient, hops: hops, copy: ev.Copy, from: ev.From}
		switch {
		case n.pending != nil:
			if !n.pending.deliver(e) {
				s.logger.Warn("dropped evidence for a busy probe", "list", n.tok.List, "kind", ev.Kind)
			}
		case n.known:
			cleanupNow = true
			l := cfg.List(n.tok.List)
			if ev.Kind != checks.KindProbeCopy || l == nil || l.Reader != account {
				continue
			}
			if f, count := s.reg.markLate(n.tok.ID); count {
				s.metrics.LateDelivery(l.Address)
				s.history.LateDelivery(l.Address, n.tok.ID, msg.SeenAt)
				s.logger.Warn("late delivery", "list", l.Address, "recorded_outcome", f.outcome, "late_by", msg.SeenAt.Sub(f.at).Round(time.Millisecond))
			}
		default:
			s.logger.Debug("probe of another process or an earlier run", "account", account, "list", n.tok.List, "kind", ev.Kind, "uid", msg.UID)
		}
	}
	if a := cfg.Accounts[account]; cleanupNow && deletable && a != nil && a.Cleanup {
		ctx, cancel := context.WithTimeout(s.ctx, cleanupTimeout)
		defer cancel()
		if err := box.box.Delete(ctx, msg.UIDValidity, msg.UID); err != nil {
			s.logger.Warn("cleanup failed", "account", account, "uid", msg.UID, "err", err)
		}
	}
}

// matchByTime ties a notice that names its list but no probe (Sympa 6.2's
// "forwarded to the moderator(s)") to a probe: only when exactly one probe
// of that list by this poster is pending, sent before the notice came.
// Anything else is ambiguous and left alone; such a notice is never
// deleted.
func (s *Service) matchByTime(cfg *Config, account string, ev checks.Evidence, msg imapwatch.Message) {
	var match *pendingProbe
	n := 0
	for _, l := range cfg.Lists {
		if !strings.EqualFold(l.Address, ev.List) || l.Poster != account {
			continue
		}
		for _, p := range s.reg.pendingFor(l.Address) {
			if p.list.Poster == account && !p.token.SentAt.After(msg.SeenAt) {
				match = p
				n++
			}
		}
	}
	if n != 1 {
		s.logger.Debug("a notice that names no probe matches no single pending probe: left alone", "account", account, "list", ev.List, "pending", n)
		return
	}
	e := evidence{kind: ev.Kind, manager: ev.Manager, reason: readable(ev.Reason), account: account,
		seenAt: msg.SeenAt, uid: msg.UID, uidv: msg.UIDValidity, byTime: true}
	if !match.deliver(e) {
		s.logger.Warn("dropped evidence for a busy probe", "list", ev.List, "kind", ev.Kind)
	}
}

// fromEarlierRun reports whether tok is a probe that an earlier run of this
// same process sent before it restarted: made with this process's origin,
// for a list it probes, and sent within that list's timeout before this run
// started. Such a probe's copy is counted late and cleaned up instead of
// being left behind forever.
func (s *Service) fromEarlierRun(cfg *Config, tok token.Token) bool {
	if !s.claim {
		return false
	}
	l := cfg.List(tok.List)
	if l == nil {
		return false
	}
	origin, ok := tok.Origin()
	if !ok || origin != cfg.signer.Origin(s.opts.Instance) {
		return false
	}
	// Token times are whole seconds.
	from := s.started.Add(-l.EffectiveTimeout(cfg.Global) - 2*time.Second)
	return !tok.SentAt.Before(from) && tok.SentAt.Before(s.started)
}

func (s *Service) noticeLimit(cfg *Config, account string, ev checks.Evidence, at time.Time) {
	for _, l := range cfg.Lists {
		if l.Poster != account || (ev.List != "" && !strings.EqualFold(ev.List, l.Address)) {
			continue
		}
		s.mu.Lock()
		s.limits[l.Address] = at
		s.mu.Unlock()
		s.metrics.NoticeLimit(l.Address, at)
		s.logger.Warn("list server sends the poster no more notices today: holds will be silent until tomorrow", "list", l.Address, "account", account)
	}
}

// NoticeLimit returns when the list server last said it sends the list's
// poster no more notices today.
func (s *Service) NoticeLimit(list string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits[list]
}

// Loaded returns when the running configuration was loaded.
func (s *Service) Loaded() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loaded
}

// MailboxState returns the state of an account's session.
func (s *Service) MailboxState(account string) (up bool, since time.Time, ok bool, err error) {
	if s.sessions == nil {
		return false, time.Time{}, false, nil
	}
	b := s.sessions.get(account)
	if b == nil {
		return false, time.Time{}, false, nil
	}
	up, since, err = b.State()
	return up, since, true, err
}

// MailmanState returns the last moderation state read for a list.
func (s *Service) MailmanState(list string) (MailmanState, bool) {
	cfg := s.Config()
	if cfg == nil || s.mailman == nil {
		return MailmanState{}, false
	}
	l := cfg.List(list)
	if l == nil || l.Mailman == "" {
		return MailmanState{}, false
	}
	w := s.mailman.get(l.Mailman)
	if w == nil {
		return MailmanState{}, false
	}
	return w.State(l.Address)
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
