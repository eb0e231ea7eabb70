package probe

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// History keeps recent probe results per list for the status page. Like
// blackbox_exporter it keeps failures longer than successes: a list's last
// few successes, and more of its failures.
type History struct {
	mu        sync.Mutex
	okLimit   int
	failLimit int
	lists     map[string]*listHistory
	byID      map[string]*Result
}

type listHistory struct {
	ok, failed []*Result // oldest first
	late       []LateCopy
	samples    sampleRing // every outcome, for the latency chart
}

// MaxSamples is how many probes of a list the latency chart shows: with the
// default five-minute schedule, the last five hours. Each costs 16 bytes,
// so 10,000 lists keep about 10 MB of them.
const MaxSamples = 60

// Sample is one finished probe as the latency chart sees it.
type Sample struct {
	At      time.Time // when the probe finished
	Outcome Outcome
	OK      bool    // the outcome was the expected one
	Latency float64 // seconds; NaN unless delivered with a known latency
}

// sample is a Sample packed small: a list's chart keeps many of them.
type sample struct {
	at      int64 // Unix milliseconds
	latency float32
	outcome uint8 // index in Outcomes; len(Outcomes) for an unknown one
	ok      bool
}

// sampleRing keeps the last MaxSamples samples of a list.
type sampleRing struct {
	buf  []sample
	next int // where the next sample goes once buf is full
}

func (r *sampleRing) add(res *Result) {
	s := sample{at: res.Finished.UnixMilli(), latency: float32(math.NaN()), outcome: uint8(len(Outcomes)), ok: res.OK}
	for i, o := range Outcomes {
		if o == res.Outcome {
			s.outcome = uint8(i)
		}
	}
	if res.Latency != nil {
		s.latency = float32(*res.Latency)
	}
	if len(r.buf) < MaxSamples {
		r.buf = append(r.buf, s)
		return
	}
	r.buf[r.next] = s
	r.next = (r.next + 1) % MaxSamples
}

// all returns the samples oldest first.
func (r *sampleRing) all() []Sample {
	out := make([]Sample, 0, len(r.buf))
	for i := range r.buf {
		s := r.buf[(r.next+i)%len(r.buf)]
		o := Outcome("unknown")
		if int(s.outcome) < len(Outcomes) {
			o = Outcomes[s.outcome]
		}
		out = append(out, Sample{At: time.UnixMilli(s.at), Outcome: o, OK: s.ok, Latency: float64(s.latency)})
	}
	return out
}

// LateCopy is a probe copy that arrived after its probe's timeout.
type LateCopy struct {
	ID     string
	SeenAt time.Time
}

// NewHistory keeps okLimit successes and failLimit failures per list.
func NewHistory(okLimit, failLimit int) *History {
	return &History{okLimit: okLimit, failLimit: failLimit, lists: map[string]*listHistory{}, byID: map[string]*Result{}}
}

// MaxKeptLog bounds the log a kept result holds: a failure's log is cut to
// its first and last MaxKeptLog/2 bytes. A success keeps its log only while
// it is its list's newest result: the newest probe's page shows how it
// went, older successes show their outcome, reason and hops without it.
const MaxKeptLog = 8 << 10

// Add records a finished probe.
func (h *History) Add(r *Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lh := h.list(r.List)
	lh.samples.add(r)
	if prev := lh.newest(); prev != nil {
		shareUnchanged(r, prev)
	}
	if n := len(lh.ok); n > 0 && lh.ok[n-1].Log != "" {
		// No longer the list's newest result. A copy, as pages may be
		// reading the one they were given.
		old := *lh.ok[n-1]
		old.Log = ""
		lh.ok[n-1] = &old
		h.byID[old.ID] = &old
	}
	if len(r.Log) > MaxKeptLog {
		c := *r
		c.Log = r.Log[:MaxKeptLog/2] + "\n[… " + strconv.Itoa(len(r.Log)-MaxKeptLog) + " bytes of the log not kept …]\n" + r.Log[len(r.Log)-MaxKeptLog/2:]
		r = &c
	}
	ring, limit := &lh.ok, h.okLimit
	if !r.OK {
		ring, limit = &lh.failed, h.failLimit
	}
	*ring = append(*ring, r)
	h.byID[r.ID] = r
	if len(*ring) > limit {
		delete(h.byID, (*ring)[0].ID)
		*ring = (*ring)[1:]
	}
}

// LateDelivery records a copy of probe id that arrived after its timeout.
func (h *History) LateDelivery(list, id string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lh := h.list(list)
	lh.late = append(lh.late, LateCopy{ID: id, SeenAt: at})
	if len(lh.late) > h.failLimit {
		lh.late = lh.late[1:]
	}
}

func (h *History) list(name string) *listHistory {
	lh := h.lists[name]
	if lh == nil {
		lh = &listHistory{}
		h.lists[name] = lh
	}
	return lh
}

// Recent returns a list's kept results, newest first.
func (h *History) Recent(list string) []*Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recentLocked(list)
}

// Snapshot returns, as of one moment, a list's kept results (newest
// first), its chart samples (oldest first) and its late copies (oldest
// first): the status page shows them side by side, so they must agree.
func (h *History) Snapshot(list string) (recent []*Result, samples []Sample, late []LateCopy) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lh := h.lists[list]
	if lh == nil {
		return nil, nil, nil
	}
	return h.recentLocked(list), lh.samples.all(), append([]LateCopy(nil), lh.late...)
}

func (h *History) recentLocked(list string) []*Result {
	lh := h.lists[list]
	if lh == nil {
		return nil
	}
	out := make([]*Result, 0, len(lh.ok)+len(lh.failed))
	i, j := len(lh.ok)-1, len(lh.failed)-1
	for i >= 0 || j >= 0 {
		if j < 0 || (i >= 0 && lh.ok[i].Finished.After(lh.failed[j].Finished)) {
			out = append(out, lh.ok[i])
			i--
		} else {
			out = append(out, lh.failed[j])
			j--
		}
	}
	return out
}

// Last returns the list's newest result, or nil.
func (h *History) Last(list string) *Result {
	if r := h.Recent(list); len(r) > 0 {
		return r[0]
	}
	return nil
}

// LastDelivered returns the list's newest kept delivered result, or nil.
func (h *History) LastDelivered(list string) *Result {
	for _, r := range h.Recent(list) {
		if r.Outcome == Delivered {
			return r
		}
	}
	return nil
}

// Late returns the late copies of a list, oldest first.
func (h *History) Late(list string) []LateCopy {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lh := h.lists[list]; lh != nil {
		return append([]LateCopy(nil), lh.late...)
	}
	return nil
}

// Get returns the kept result of probe id, or nil.
func (h *History) Get(id string) *Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byID[id]
}

// Retain forgets the lists keep says no to, with their results: after a
// reload removed lists, their history would otherwise stay for good.
func (h *History) Retain(keep func(list string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, lh := range h.lists {
		if keep(name) {
			continue
		}
		for _, r := range lh.ok {
			delete(h.byID, r.ID)
		}
		for _, r := range lh.failed {
			delete(h.byID, r.ID)
		}
		delete(h.lists, name)
	}
}

// Newest returns the list's newest kept result, or nil, without copying
// its history: the status page sorts every list by it.
func (h *History) Newest(list string) *Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	lh := h.lists[list]
	if lh == nil {
		return nil
	}
	var ok, failed *Result
	if n := len(lh.ok); n > 0 {
		ok = lh.ok[n-1]
	}
	if n := len(lh.failed); n > 0 {
		failed = lh.failed[n-1]
	}
	switch {
	case ok == nil:
		return failed
	case failed == nil || ok.Finished.After(failed.Finished):
		return ok
	}
	return failed
}

// newest returns the list's newest kept result, nil when it has none.
func (lh *listHistory) newest() *Result {
	var newest *Result
	for _, ring := range [][]*Result{lh.ok, lh.failed} {
		if n := len(ring); n > 0 && (newest == nil || ring[n-1].Finished.After(newest.Finished)) {
			newest = ring[n-1]
		}
	}
	return newest
}

// shareUnchanged makes r use prev's copy of every text and verdict that is
// the same in both: a list's probes mostly repeat the reason, evidence,
// hosts and authentication verdict of the one before, and 10,000 lists
// keep 100,000 results, which would each hold a copy (about 700 bytes of a
// delivered result's 2.5 KB). r is the caller's, not yet shown to anyone
// else.
func shareUnchanged(r, prev *Result) {
	share := func(s *string, old string) {
		if *s == old {
			*s = old
		}
	}
	share(&r.Reason, prev.Reason)
	share(&r.Evidence, prev.Evidence)
	if r.Authentication != nil && prev.Authentication != nil && *r.Authentication == *prev.Authentication {
		r.Authentication = prev.Authentication
	}
	for i := range min(len(r.Hops), len(prev.Hops)) {
		share(&r.Hops[i].By, prev.Hops[i].By)
		share(&r.Hops[i].With, prev.Hops[i].With)
	}
}
