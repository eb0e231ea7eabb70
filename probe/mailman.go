package probe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/checks/msgid"
	"github.com/listprobe/listprobe/probe/config"
)

// Mailman REST timings.
const (
	// heldPollInterval is how often the held-queue depth of a list is read
	// while one of its probes is pending.
	heldPollInterval = 2 * time.Second
	// heldRescan is how often the newest held posts are read again while a
	// probe is pending even though the queue depth did not change (a post
	// released as the probe's was held leaves the depth unchanged).
	heldRescan = 20 * time.Second
	// heldTail is how many of the newest held posts are read: Mailman sends
	// each held post whole, so a probe never reads a long queue.
	heldTail = 10
	// heldPollLists bounds the lists whose held queue one poll reads: with
	// thousands of lists waiting on one server, they take turns rather
	// than flood it.
	heldPollLists = 20
	// restTimeout bounds one round of REST requests.
	restTimeout = 30 * time.Second
)

// mailmanWatcher is the one reader of a Mailman server's REST API. It reads
// its lists' moderation settings and queue depth every refresh (for the
// metrics, whether or not a probe is pending) and, while probes of a list are
// pending, watches that list's held queue and hands a held probe to it as
// evidence. Its cost does not grow with the number of pending probes.
type mailmanWatcher struct {
	name    string
	key     string
	client  *mailmanrest.Client
	refresh time.Duration
	logger  *slog.Logger
	metrics *Metrics
	reg     *registry
	cancel  context.CancelFunc
	pipe    *pipeline // the server's queues, digests and bounce-disabled members

	mu    sync.Mutex
	lists map[string]listMembers  // list address -> the probe accounts whose membership is read
	state map[string]MailmanState // last state read, by list
	woken map[string]bool         // lists with a probe that became pending since the last look
	wake  chan struct{}           // something was added to woken
}

func mailmanKey(m *config.MailmanConfig) string {
	pw := sha256.Sum256([]byte(m.Password()))
	return fmt.Sprintf("%s|%s|%x|%s|%v|%s|%v", m.URL, m.Username, pw[:8], m.CAFile, m.InsecureSkipVerify, time.Duration(m.Refresh), m.MailmanPipeline)
}

func newMailmanWatcher(name string, m *config.MailmanConfig, logger *slog.Logger, metrics *Metrics, reg *registry) *mailmanWatcher {
	w := &mailmanWatcher{
		name: name,
		key:  mailmanKey(m),
		client: mailmanrest.New(mailmanrest.Options{
			URL:      m.URL,
			Username: m.Username,
			Password: m.Password(),
			Client:   &http.Client{Timeout: restTimeout, Transport: restTransport(m)},
		}),
		refresh: time.Duration(m.Refresh),
		logger:  logger.With("mailman", name),
		metrics: metrics,
		reg:     reg,
		lists:   map[string]listMembers{},
		state:   map[string]MailmanState{},
		woken:   map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
	w.pipe = newPipeline(name, m.MailmanPipeline, w.client, metrics, w.logger)
	return w
}

// listMembers are the probe's own accounts on a list: the poster's
// address and the readers (the first one first).
type listMembers struct {
	poster  string
	readers []memberAccount
}

// setLists says which lists the watcher reads, with their probe accounts.
func (w *mailmanWatcher) setLists(lists map[string]listMembers) {
	w.mu.Lock()
	w.lists = lists
	w.pipe.forget(lists)
	for l := range w.state {
		if _, ok := lists[l]; !ok {
			delete(w.state, l)
		}
	}
	w.mu.Unlock()
}

// poke tells the watcher a probe of list is now waiting for its outcome:
// that list's held queue is looked at now rather than at the next poll.
func (w *mailmanWatcher) poke(list string) {
	w.mu.Lock()
	w.woken[list] = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// State returns the last moderation state read for list.
func (w *mailmanWatcher) State(list string) (MailmanState, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.state[list]
	return s, ok
}

type heldWatch struct {
	count    int
	fetched  time.Time
	probeIDs map[string]bool // the pending probes the last fetch looked for
}

// run reads the lists' settings every refresh, in a goroutine of its own
// (one round costs three requests per list), and watches the held queues
// of lists with pending probes: a list whose probe just started waiting at
// once, every list with pending probes every heldPollInterval, at most
// heldPollLists of them per poll, in turn.
func (w *mailmanWatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.safely("refreshing moderation settings", func() { w.refreshAll(ctx) })
				w.safely("reading the pipeline", func() { w.pipe.refresh(ctx, w.listNames()) })
				t.Reset(w.refresh)
			}
		}
	}()
	poll := time.NewTicker(heldPollInterval)
	defer poll.Stop()
	watches := map[string]*heldWatch{}
	next := 0 // where the last capped poll stopped
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			w.mu.Lock()
			lists := make([]string, 0, len(w.woken))
			for l := range w.woken {
				if _, ok := w.lists[l]; ok {
					lists = append(lists, l)
				}
			}
			w.woken = map[string]bool{}
			w.mu.Unlock()
			w.safely("watching held queues", func() { w.watchHeld(ctx, watches, lists) })
		case <-poll.C:
			w.mu.Lock()
			var active []string
			for l := range w.lists {
				if len(w.reg.pendingFor(l)) > 0 {
					active = append(active, l)
				}
			}
			w.mu.Unlock()
			for l := range watches {
				if !slices.Contains(active, l) {
					delete(watches, l)
				}
			}
			slices.Sort(active)
			if len(active) > heldPollLists {
				next %= len(active)
				active = slices.Concat(active[next:], active[:next])[:heldPollLists]
				next += heldPollLists
			}
			w.safely("watching held queues", func() { w.watchHeld(ctx, watches, active) })
		}
	}
}

// safely runs one round of REST reads; a panic (an answer no one foresaw)
// ends the round, not the watcher or the process.
func (w *mailmanWatcher) safely(what string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			w.logger.Error(what+" panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	f()
}

func (w *mailmanWatcher) refreshAll(ctx context.Context) {
	w.mu.Lock()
	lists := make(map[string]listMembers, len(w.lists))
	for l, m := range w.lists {
		lists[l] = m
	}
	w.mu.Unlock()
	for list, members := range lists {
		rctx, cancel := context.WithTimeout(ctx, restTimeout)
		s, err := w.moderationState(rctx, list, members)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.logger.Warn("reading Mailman moderation state failed", "list", list, "err", err)
		}
		w.mu.Lock()
		_, still := w.lists[list]
		if old, ok := w.state[list]; ok && old.sameSettings(s) {
			s.Since = old.Since // since when the settings have had these values
		}
		if still {
			w.state[list] = s
		}
		w.mu.Unlock()
		if still {
			w.metrics.Mailman(list, s)
		}
	}
}

// moderationState reads the list's queue depth, moderation settings and the
// probe accounts' memberships; on error the state says the REST API is not
// up.
func (w *mailmanWatcher) moderationState(ctx context.Context, list string, members listMembers) (MailmanState, error) {
	held, err := w.client.HeldCount(ctx, list)
	if err != nil {
		return MailmanState{Since: time.Now()}, err
	}
	mod, err := w.client.Moderation(ctx, list)
	if err != nil {
		return MailmanState{Since: time.Now()}, err
	}
	poster, err := w.client.Membership(ctx, list, members.poster)
	if err != nil {
		return MailmanState{Since: time.Now()}, err
	}
	readers, err := w.readerMemberships(ctx, list, members.readers)
	if err != nil {
		return MailmanState{Since: time.Now()}, err
	}
	var reader MemberState
	if len(readers) > 0 {
		reader = readers[0].MemberState
	}
	return MailmanState{Up: true, Held: held, DefaultMemberAction: mod.DefaultMemberAction,
		DefaultNonmemberAction: mod.DefaultNonmemberAction, MemberAction: poster.ModerationAction, Emergency: mod.Emergency,
		Poster: poster, Reader: reader, Readers: readers, Since: time.Now()}, nil
}

// watchHeld looks at the held queue of these lists for their pending
// probes: the depth every time, the newest held posts when the depth
// changed, a new probe is pending, or heldRescan passed.
func (w *mailmanWatcher) watchHeld(ctx context.Context, watches map[string]*heldWatch, lists []string) {
	for _, list := range lists {
		pending := w.reg.pendingFor(list)
		if len(pending) == 0 {
			continue
		}
		hw := watches[list]
		if hw == nil {
			hw = &heldWatch{count: -1}
			watches[list] = hw
		}
		rctx, cancel := context.WithTimeout(ctx, restTimeout)
		err := w.lookForHeld(rctx, list, pending, hw)
		cancel()
		if err != nil && ctx.Err() == nil {
			w.logger.Warn("reading the held queue for a pending probe failed", "list", list, "err", err)
			w.metrics.Mailman(list, MailmanState{Up: false})
		}
	}
}

func (w *mailmanWatcher) lookForHeld(ctx context.Context, list string, pending []*pendingProbe, hw *heldWatch) error {
	count, err := w.client.HeldCount(ctx, list)
	if err != nil {
		return err
	}
	newProbe := false
	for _, p := range pending {
		if !hw.probeIDs[p.token.ID] {
			newProbe = true
		}
	}
	if count == 0 || (count == hw.count && !newProbe && time.Since(hw.fetched) < heldRescan) {
		hw.count = count
		return nil
	}
	held, err := w.client.HeldNewest(ctx, list, count, heldTail)
	if err != nil {
		return err
	}
	hw.count, hw.fetched = count, time.Now()
	hw.probeIDs = map[string]bool{}
	for _, p := range pending {
		hw.probeIDs[p.token.ID] = true
		for _, h := range held {
			if !msgid.Same(h.MessageID, p.messageID) {
				continue
			}
			e := sighting{kind: checks.KindHoldNotice, manager: "mailman3-rest", reason: h.Reason, seenAt: time.Now(), requestID: h.RequestID, trust: TrustAuthenticated}
			if !p.deliver(e) {
				w.logger.Warn("dropped evidence for a busy probe", "list", list, "kind", "mailman_rest_held")
			}
		}
	}
	return nil
}

// discardHeld discards a held probe through REST. Only the request whose
// Message-ID is the probe's is discarded, after reading it back: Mailman
// reuses request ids.
func (w *mailmanWatcher) discardHeld(ctx context.Context, logger *slog.Logger, list, messageID string) {
	count, err := w.client.HeldCount(ctx, list)
	if err == nil {
		var held []mailmanrest.HeldMessage
		held, err = w.client.HeldNewest(ctx, list, count, heldTail)
		for _, h := range held {
			if !msgid.Same(h.MessageID, messageID) {
				continue
			}
			ok, derr := w.client.DiscardMessage(ctx, list, h.RequestID, messageID)
			switch {
			case derr != nil:
				logger.Warn("discarding held probe failed", "request_id", h.RequestID, "err", derr)
			case ok:
				logger.Debug("discarded held probe", "request_id", h.RequestID, "message_id", messageID)
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Warn("reading the held queue to discard the probe failed", "err", err)
	}
}

// mailmanWatchers is the service's set of Mailman watchers, one per server,
// reconciled with each configuration like the mailbox sessions.
type mailmanWatchers struct {
	logger  *slog.Logger
	metrics *Metrics
	reg     *registry
	ctx     context.Context
	wg      sync.WaitGroup

	mu sync.Mutex
	m  map[string]*mailmanWatcher
}

func (mw *mailmanWatchers) reconcile(cfg *config.Config) {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	if mw.m == nil {
		mw.m = map[string]*mailmanWatcher{}
	}
	for name, m := range cfg.Mailman {
		lists := map[string]listMembers{}
		for _, l := range cfg.Lists {
			if l.Mailman == name {
				lists[l.Address] = listMembers{poster: cfg.Accounts[l.Poster].Address, readers: readerAccounts(cfg, l)}
			}
		}
		old := mw.m[name]
		if old != nil && old.key == mailmanKey(m) {
			old.setLists(lists)
			continue
		}
		if old != nil {
			old.cancel()
		}
		w := newMailmanWatcher(name, m, mw.logger, mw.metrics, mw.reg)
		// Its lists before it starts: its first read is at once.
		w.setLists(lists)
		ctx, cancel := context.WithCancel(mw.ctx)
		w.cancel = cancel
		mw.wg.Add(1)
		go func() {
			defer mw.wg.Done()
			// A replaced watcher's keep-alive connection would otherwise
			// stay open, with its two goroutines, for the life of the
			// process.
			defer w.client.CloseIdleConnections()
			w.run(ctx)
		}()
		mw.m[name] = w
	}
	for name, w := range mw.m {
		if _, ok := cfg.Mailman[name]; !ok {
			w.cancel()
			delete(mw.m, name)
		}
	}
}

func (mw *mailmanWatchers) get(name string) *mailmanWatcher {
	mw.mu.Lock()
	defer mw.mu.Unlock()
	return mw.m[name]
}

func (mw *mailmanWatchers) stop() {
	mw.mu.Lock()
	ws := mw.m
	mw.m = nil
	mw.mu.Unlock()
	for _, w := range ws {
		w.cancel()
	}
	mw.wg.Wait()
}

// listNames are the lists the watcher reads, sorted.
func (w *mailmanWatcher) listNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.lists))
	for l := range w.lists {
		names = append(names, l)
	}
	slices.Sort(names)
	return names
}
