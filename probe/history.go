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
	byID      map[string]*listHistory // the list each kept result is in
}

type listHistory struct {
	name string
	// ok are the list's successes, oldest first, packed once a newer
	// result of the list came; last is its newest success while it is the
	// list's newest result, in full (its log too).
	ok      []keptOK
	last    *Result
	failed  []*Result // oldest first, in full
	late    []LateCopy
	samples sampleRing // every outcome, for the latency chart
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
	return &History{okLimit: okLimit, failLimit: failLimit, lists: map[string]*listHistory{}, byID: map[string]*listHistory{}}
}

// MaxKeptLog bounds the log a kept result holds: a failure's log is cut to
// its first and last MaxKeptLog/2 bytes. A success keeps its log, and its
// full record, only while it is its list's newest result: the newest
// probe's page shows how it went; older successes are packed
// (keptSuccess) and show everything but their log.
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
	if lh.last != nil {
		// No longer the list's newest result. Pages may be reading the
		// Result they were given: it is left as it is.
		lh.ok = append(lh.ok, lh.pack(lh.last))
		lh.last = nil
	}
	if len(r.Log) > MaxKeptLog {
		c := *r
		c.Log = r.Log[:MaxKeptLog/2] + "\n[… " + strconv.Itoa(len(r.Log)-MaxKeptLog) + " bytes of the log not kept …]\n" + r.Log[len(r.Log)-MaxKeptLog/2:]
		r = &c
	}
	h.byID[r.ID] = lh
	if r.OK {
		lh.last = r
	} else {
		lh.failed = append(lh.failed, r)
	}
	for len(lh.failed) > h.failLimit {
		delete(h.byID, lh.failed[0].ID)
		lh.failed = lh.failed[1:]
	}
	for len(lh.ok) > 0 && len(lh.ok)+keptLast(lh.last != nil) > h.okLimit {
		delete(h.byID, lh.ok[0].id())
		lh.ok = lh.ok[1:]
	}
	if lh.last != nil && h.okLimit < 1 {
		delete(h.byID, lh.last.ID)
		lh.last = nil
	}
}

func keptLast(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keptOK is a kept success: packed, or in full when it cannot be packed.
type keptOK struct {
	small *keptSuccess
	full  *Result
}

// pack packs r, a success of the list no longer its newest result.
func (lh *listHistory) pack(r *Result) keptOK {
	var prev *keptSuccess
	if n := len(lh.ok); n > 0 {
		prev = lh.ok[n-1].small
	}
	if k := compact(r, prev); k != nil {
		return keptOK{small: k}
	}
	c := *r
	c.Log = ""
	return keptOK{full: &c}
}

func (k keptOK) id() string {
	if k.small != nil {
		return k.small.id
	}
	return k.full.ID
}

func (k keptOK) finished() time.Time {
	if k.small != nil {
		return fromUnixNano(k.small.finished)
	}
	return k.full.Finished
}

func (k keptOK) result(list string) *Result {
	if k.small != nil {
		return k.small.expand(list)
	}
	return k.full
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
		lh = &listHistory{name: name}
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
	return lh.recent()
}

// recent returns the list's kept results, newest first.
func (lh *listHistory) recent() []*Result {
	ok := make([]*Result, 0, len(lh.ok)+1)
	for _, k := range lh.ok {
		ok = append(ok, k.result(lh.name))
	}
	if lh.last != nil {
		ok = append(ok, lh.last)
	}
	out := make([]*Result, 0, len(ok)+len(lh.failed))
	i, j := len(ok)-1, len(lh.failed)-1
	for i >= 0 || j >= 0 {
		if j < 0 || (i >= 0 && ok[i].Finished.After(lh.failed[j].Finished)) {
			out = append(out, ok[i])
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
	lh := h.byID[id]
	if lh == nil {
		return nil
	}
	if lh.last != nil && lh.last.ID == id {
		return lh.last
	}
	for _, r := range lh.failed {
		if r.ID == id {
			return r
		}
	}
	for _, k := range lh.ok {
		if k.id() == id {
			return k.result(lh.name)
		}
	}
	return nil
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
		for _, k := range lh.ok {
			delete(h.byID, k.id())
		}
		if lh.last != nil {
			delete(h.byID, lh.last.ID)
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
	if r := lh.newest(); r != nil {
		return r
	}
	if n := len(lh.ok); n > 0 {
		// Only when no failure is kept and no success is newest.
		return lh.ok[n-1].result(lh.name)
	}
	return nil
}

// newest returns the list's newest result among those kept in full (its
// newest success while it is the newest result, and its failures), nil
// when it has none: the newest kept result, unless the list keeps no
// failures.
func (lh *listHistory) newest() *Result {
	newest := lh.last
	if n := len(lh.failed); n > 0 && (newest == nil || lh.failed[n-1].Finished.After(newest.Finished)) {
		newest = lh.failed[n-1]
	}
	if n := len(lh.ok); newest != nil && n > 0 && lh.ok[n-1].finished().After(newest.Finished) {
		return nil
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
