package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/probe/config"
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
	// FailFast makes a probe give up at the first failed login of a
	// mailbox it needs instead of waiting for it to heal (for `once`).
	FailFast bool
	// Load are the options the configuration file is loaded with; nil
	// for the defaults (the built-in demo allows shorter schedules).
	Load *config.Options
	// MailboxCommandTimeout bounds one IMAP command round of every
	// mailbox session: a server that has not answered within it makes its
	// session go down (see imapwatch.Options.CommandTimeout). Default 1m.
	MailboxCommandTimeout time.Duration
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
	audits   *auditors // registered on the metrics once; started by Start
	stages   []stage   // nil: probeStages; tests replace them
	dns      resolvers
	ondemand onDemand

	cfg     atomic.Pointer[config.Config]
	started time.Time
	ctx     context.Context // the service's lifetime, set by Start
	cancel  context.CancelFunc
	// cleanups outlives ctx by Stop's grace: see startCleanups.
	cleanups    context.Context
	endCleanups context.CancelFunc
	probes      sync.WaitGroup // every probe in flight
	slots       chan struct{}  // MaxInFlight

	mu      sync.Mutex
	loaded  time.Time
	cron    *cron.Cron
	running map[string]bool      // lists with a scheduled probe in flight
	due     dueProbes            // scheduled probes past their jitter, waiting for a slot
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
	s := &Service{
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
		audits:  &auditors{logger: logger},
	}
	s.metrics.Registry.MustRegister(s.audits)
	return s
}

// Metrics returns the service's metrics.
func (s *Service) Metrics() *Metrics { return s.metrics }

// History returns the service's recent results.
func (s *Service) History() *History { return s.history }

// Config returns the running configuration (this replica's lists only), nil
// before one is loaded.
func (s *Service) Config() *config.Config { return s.cfg.Load() }

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
func (s *Service) Start(ctx context.Context, cfg *config.Config) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.startCleanups(ctx)
	s.sessions = newSessions(s.ctx, s.logger, s.metrics, s.onMessage)
	s.sessions.commandTimeout = s.opts.MailboxCommandTimeout
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
	s.audits.ctx = s.ctx
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
	endCleanups := s.graceThenEndCleanups()
	defer endCleanups()
	s.probes.Wait()
	if s.sessions != nil {
		s.sessions.stop()
	}
	if s.mailman != nil {
		s.mailman.stop()
	}
	s.audits.stop()
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
func (s *Service) load() (*config.Config, error) {
	return config.LoadFile(s.file, s.opts.Load)
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
func (s *Service) apply(cfg *config.Config) {
	s.applyAudit(cfg)
	if s.opts.ShardCount > 1 {
		cfg = cfg.Subset(shardLists(cfg.Lists, s.opts.ShardIndex, s.opts.ShardCount))
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

// runProbe runs one probe once a slot is free. MaxInFlight bounds the
// probes being posted (waiting for sessions, composing, talking SMTP), and
// waiting lists are served in turn; a probe gives its slot back once the
// post is handed over, since waiting for the outcome costs nothing but a
// registry entry, and a list server that holds or drops every post must
// not starve the other lists of slots.
func (s *Service) runProbe(cfg *config.Config, l *config.ListConfig) *Result {
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return &Result{List: l.Address, Expected: Outcome(l.Expect), Outcome: Error, Reason: "listprobe stopped before the probe could start"}
	}
	return s.runWithSlot(cfg, l)
}

// runWithSlot runs one probe that holds a slot, and gives the slot back
// when the post is handed over (or the probe ends first).
func (s *Service) runWithSlot(cfg *config.Config, l *config.ListConfig) *Result {
	var once sync.Once
	release := func() { once.Do(func() { <-s.slots }) }
	defer release()
	return s.safeProbe(cfg, l, release)
}

// safeProbe runs a probe and turns a panic outside its stages into an error
// outcome, so that the process and the other lists' probes go on.
func (s *Service) safeProbe(cfg *config.Config, l *config.ListConfig, releaseSlot func()) (res *Result) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("probe panicked", "list", l.Address, "panic", p, "stack", string(debug.Stack()))
			res = &Result{List: l.Address, Expected: Outcome(l.Expect), Outcome: Error, Evidence: "listprobe internal error",
				Reason: readable(fmt.Sprintf("internal error: %v", p)), Started: time.Now(), Finished: time.Now()}
			s.metrics.Record(res)
			s.history.Add(res)
		}
	}()
	return s.probe(s.ctx, cfg, l, releaseSlot)
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
		// Cut: the name comes from a request, and an answer echoes it.
		return nil, 0, fmt.Errorf("list %q is not configured", checks.Truncate(list, 300))
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
func Once(ctx context.Context, cfg *config.Config, lists []*config.ListConfig, logger *slog.Logger, opts *Options, progress func(i int, done bool)) []*Result {
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
	s.Start(ctx, cfg.Subset(lists))
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
