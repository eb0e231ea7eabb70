package probe

import (
	"sync"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/probe/config"
)

// How long a finished probe is remembered. A lost one, for a day, so that
// a copy arriving after its timeout is counted as late and cleaned up. The
// others only need to outlive stray duplicates and late notices about them
// (a copy seen again after a UIDVALIDITY change, a slow bounce), so that
// those are cleaned up too.
const (
	finishedRetention      = 24 * time.Hour
	finishedShortRetention = time.Hour
)

// sightingBuffer is how many pieces of evidence a pending probe can have
// waiting: a copy, a few notices and bounces. More are dropped with a
// warning; the first that decides is all a probe needs.
const sightingBuffer = 16

// sighting is one piece of evidence seen about a pending probe (a message
// the judgement tied to it, or Mailman's held queue): what the probe's
// stages need of it. checks.Evidence is what the classifier read of a
// message; a Verdict decides which probe it concerns.
type sighting struct {
	kind    checks.Kind
	manager string
	reason  string
	account string // the mailbox it was seen in; "" for Mailman REST
	seenAt  time.Time
	uid     uint32
	uidv    uint32
	// deletable: the message is proven to be the probe's own copy or a
	// notice the list server wrote about it, and every probe it names is
	// this process's.
	deletable bool
	// approved is set on a copy a moderator released, approvedAt when the
	// list manager recorded the time.
	approved   bool
	approvedAt time.Time
	// copy says how a copy carries its probe, from whom it came.
	copy checks.Copy
	from string
	// recipient is, for a bounce, the address whose delivery failed.
	recipient string
	// hops is a copy's Received chain, oldest first.
	hops []checks.Hop
	// authn is a copy's authentication verdict; nil when not checked.
	authn *authn.Checks
	// placement is the folder a mailbox message was seen in (INBOX or
	// Junk), filter the spam filter's verdict header fields.
	placement Placement
	filter    string
	// byTime: a notice that names no probe, tied to the only pending probe
	// of its list by the time it came.
	byTime bool
	// requestID is the Mailman held request, for REST evidence.
	requestID int
	// trust is the verdict's Trust (TrustAuthenticated for the Mailman
	// REST API): issue 15 makes a hint unable to decide the outcome
	// before the timeout.
	trust Trust
	// trustWhy says why a hint is not believed; dnsFailed that DNS kept
	// it from being checked (error-class).
	trustWhy  string
	dnsFailed bool
}

// pendingProbe is a probe waiting for its outcome.
type pendingProbe struct {
	list      *config.ListConfig
	cfg       *config.Config // the configuration the probe started with
	token     token.Token
	messageID string
	// sightings carries pointers: a buffer of sightingBuffer sightings
	// would cost each pending probe 8 KB, 30 MB with 4,000 probes waiting.
	sightings chan *sighting
}

// finishedProbe is what is remembered of a probe once it has an outcome.
type finishedProbe struct {
	list    string
	outcome Outcome
	at      time.Time
	signer  *token.Signer
	late    bool // its late copy was counted: a copy seen again (after a UIDVALIDITY change) is not counted twice
	// claimed: an earlier run's probe, whose outcome is unknown; at is its
	// deadline, and only a copy that arrived after it is late.
	claimed bool
}

// finishedEntry is a finishedProbe as the registry keeps it, packed: on a
// one-minute schedule 10,000 lists finish 600,000 probes an hour, each
// remembered for at least an hour (40 bytes each instead of 72).
type finishedEntry struct {
	list          string
	signer        *token.Signer
	at            int64 // Unix nanoseconds
	outcome       uint8 // index in Outcomes
	late, claimed bool
}

func packFinished(f finishedProbe) finishedEntry {
	o, ok := outcomeIndex(f.outcome)
	if !ok {
		o, _ = outcomeIndex(Error) // never: probes end with one of Outcomes
	}
	return finishedEntry{list: f.list, signer: f.signer, at: f.at.UnixNano(), outcome: o, late: f.late, claimed: f.claimed}
}

func (e finishedEntry) probe() finishedProbe {
	return finishedProbe{list: e.list, signer: e.signer, at: time.Unix(0, e.at), outcome: Outcomes[e.outcome], late: e.late, claimed: e.claimed}
}

// registry holds the probes of this process: pending ones, which evidence is
// routed to, and recently finished ones, whose late copies are counted and
// cleaned up. It belongs to the service, so a reload does not forget them.
type registry struct {
	mu        sync.Mutex
	pending   map[string]*pendingProbe            // by token id
	byList    map[string]map[string]*pendingProbe // list address -> token id -> probe
	finished  map[string]finishedEntry            // by token id
	lastPrune time.Time
}

func newRegistry() *registry {
	return &registry{pending: map[string]*pendingProbe{}, byList: map[string]map[string]*pendingProbe{}, finished: map[string]finishedEntry{}}
}

func (r *registry) add(p *pendingProbe) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[p.token.ID] = p
	l := r.byList[p.list.Address]
	if l == nil {
		l = map[string]*pendingProbe{}
		r.byList[p.list.Address] = l
	}
	l[p.token.ID] = p
}

// finish moves a pending probe to the finished ones. It is known as finished
// before it stops being pending, so that a copy arriving in between is never
// taken for another process's.
func (r *registry) finish(p *pendingProbe, outcome Outcome, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished[p.token.ID] = packFinished(finishedProbe{list: p.list.Address, outcome: outcome, at: at, signer: p.cfg.Signer()})
	delete(r.pending, p.token.ID)
	if l := r.byList[p.list.Address]; l != nil {
		delete(l, p.token.ID)
		if len(l) == 0 {
			delete(r.byList, p.list.Address)
		}
	}
	if at.Sub(r.lastPrune) < time.Minute {
		return
	}
	r.lastPrune = at
	lost, _ := outcomeIndex(Lost)
	for id, old := range r.finished {
		keep := finishedShortRetention
		if old.outcome == lost {
			keep = finishedRetention
		}
		if at.UnixNano()-old.at > int64(keep) {
			delete(r.finished, id)
		}
	}
}

// claim records a probe sent by an earlier run of this process (before a
// restart), whose deadline is at, as finished with an unknown outcome, so
// that its copy is cleaned up, and counted late if it arrived after the
// deadline. A probe known already is left as it is.
func (r *registry) claim(id, list string, deadline time.Time, signer *token.Signer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[id]; ok {
		return
	}
	if _, ok := r.finished[id]; ok {
		return
	}
	r.finished[id] = packFinished(finishedProbe{list: list, outcome: Lost, at: deadline, signer: signer, claimed: true})
}

// lookup returns the pending or finished probe with this id.
func (r *registry) lookup(id string) (*pendingProbe, finishedProbe, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pending[id]; ok {
		return p, finishedProbe{}, true
	}
	if f, ok := r.finished[id]; ok {
		return nil, f.probe(), true
	}
	return nil, finishedProbe{}, false
}

// markLate reports whether the probe's late copy, which arrived at
// arrived, is to be counted now: the probe is finished, its outcome was lost
// (a held or rejected probe whose copy turns up was released or resent by
// someone, not late), its late copy was not counted before, and, for an
// earlier run's probe, the copy arrived after its deadline (with
// claimedLateMargin): the earlier run saw a copy that came in time, or
// would have, and a delivered probe is never late.
func (r *registry) markLate(id string, arrived time.Time) (finishedProbe, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.finished[id]
	if !ok {
		return finishedProbe{}, false
	}
	f := e.probe()
	if f.late || f.outcome != Lost || f.claimed && !arrived.After(f.at.Add(claimedLateMargin)) {
		return f, false
	}
	f.late, e.late = true, true
	r.finished[id] = e
	return f, true
}

// pendingFor returns the pending probes of list.
func (r *registry) pendingFor(list string) []*pendingProbe {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*pendingProbe
	for _, p := range r.byList[list] {
		out = append(out, p)
	}
	return out
}

// deliver hands evidence to a pending probe without blocking.
func (p *pendingProbe) deliver(e sighting) bool {
	select {
	case p.sightings <- &e:
		return true
	default:
		return false
	}
}
