package probe

import (
	"math"
	"time"
)

// keptSuccess is a success that is no longer its list's newest result,
// packed small: 10,000 lists keep 90,000 of them. It keeps what the status
// page and a result's page show (outcome, reason, evidence, Message-ID,
// SMTP reply, times, latency, readers, hops, the shared authentication
// verdict) and drops the log and the token; the texts and verdict it
// points to are mostly shared with the list's other results
// (shareUnchanged). expand gives the Result back, less those two.
type keptSuccess struct {
	id, messageID, submitReply string
	reason, evidence           string
	auth                       *Authentication
	route                      []hopRoute // shared with the list's packed success before when the same
	hops                       []keptHop
	rare                       *keptRare // nil for most results
	// Unix nanoseconds, or noTime for the zero time.
	sent, accepted, started, finished int64
	submit                            time.Duration
	latency                           float64 // NaN when the result had none
	outcome, expected                 uint8   // indexes in Outcomes
	ok, posted                        bool
}

// keptRare holds the fields few successes have.
type keptRare struct {
	readers []ReaderResult
	hints   []Hint
	archive *ArchiveResult
}

// hopRoute is where a hop was: a list's copies mostly take the same route,
// which its packed successes share.
type hopRoute struct{ by, with string }

// keptHop is when a hop was: a date of whole seconds, durations that fit a
// float32 exactly, as Received fields give them.
type keptHop struct {
	at               int64 // Unix seconds, or noTime
	seconds, clamped float32
}

const noTime = math.MinInt64

// compact packs r, sharing prev's route when it is the same, or returns nil when it cannot be packed without losing
// anything the pages show (an outcome listprobe does not know, a time
// outside int64 nanoseconds, a hop the packing would round).
func compact(r *Result, prev *keptSuccess) *keptSuccess {
	k := &keptSuccess{id: r.ID, messageID: r.MessageID, submitReply: r.SubmitReply, reason: r.Reason, evidence: r.Evidence,
		auth: r.Authentication, submit: r.SubmitDuration, latency: math.NaN(), ok: r.OK, posted: r.Posted}
	var fits bool
	if k.outcome, fits = outcomeIndex(r.Outcome); !fits {
		return nil
	}
	if k.expected, fits = outcomeIndex(r.Expected); !fits {
		return nil
	}
	for _, t := range []struct {
		to   *int64
		from time.Time
	}{{&k.sent, r.SentAt}, {&k.accepted, r.AcceptedAt}, {&k.started, r.Started}, {&k.finished, r.Finished}} {
		if *t.to, fits = unixNano(t.from); !fits {
			return nil
		}
	}
	if r.Latency != nil {
		if math.IsNaN(*r.Latency) {
			return nil
		}
		k.latency = *r.Latency
	}
	if len(r.Hops) > 0 {
		k.hops = make([]keptHop, len(r.Hops))
		for i, h := range r.Hops {
			if k.hops[i], fits = packHop(h); !fits {
				return nil
			}
		}
		k.route = routeOf(r.Hops, prev)
	}
	if r.Readers != nil || r.Hints != nil || r.Archive != nil {
		k.rare = &keptRare{readers: r.Readers, hints: r.Hints, archive: r.Archive}
	}
	return k
}

// expand gives back the Result k was packed from, without its log and
// token, for list.
func (k *keptSuccess) expand(list string) *Result {
	r := &Result{ID: k.id, List: list, Outcome: Outcomes[k.outcome], Expected: Outcomes[k.expected], OK: k.ok, Reason: k.reason,
		Evidence: k.evidence, MessageID: k.messageID, SentAt: fromUnixNano(k.sent), Authentication: k.auth, Posted: k.posted,
		SubmitReply: k.submitReply, SubmitDuration: k.submit, AcceptedAt: fromUnixNano(k.accepted), Started: fromUnixNano(k.started),
		Finished: fromUnixNano(k.finished)}
	if !math.IsNaN(k.latency) {
		lat := k.latency
		r.Latency = &lat
	}
	if k.hops != nil {
		r.Hops = make([]Hop, len(k.hops))
		for i, h := range k.hops {
			r.Hops[i] = Hop{By: k.route[i].by, With: k.route[i].with, Seconds: float64(h.seconds), ClampedFrom: float64(h.clamped)}
			if h.at != noTime {
				r.Hops[i].At = time.Unix(h.at, 0).UTC()
			}
		}
	}
	if k.rare != nil {
		r.Readers, r.Hints, r.Archive = k.rare.readers, k.rare.hints, k.rare.archive
	}
	return r
}

func outcomeIndex(o Outcome) (uint8, bool) {
	for i, known := range Outcomes {
		if o == known {
			return uint8(i), true
		}
	}
	return 0, false
}

// unixNano packs t, which the pages show in UTC; false when int64
// nanoseconds cannot hold it.
func unixNano(t time.Time) (int64, bool) {
	if t.IsZero() {
		return noTime, true
	}
	n := t.UnixNano()
	return n, n != noTime && time.Unix(0, n).Equal(t)
}

func fromUnixNano(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func packHop(h Hop) (keptHop, bool) {
	k := keptHop{at: noTime, seconds: float32(h.Seconds), clamped: float32(h.ClampedFrom)}
	if !h.At.IsZero() {
		k.at = h.At.Unix()
		if !time.Unix(k.at, 0).Equal(h.At) {
			return keptHop{}, false
		}
	}
	exact := func(f float64, g float32) bool { return float64(g) == f || (math.IsNaN(f) && math.IsNaN(float64(g))) }
	return k, exact(h.Seconds, k.seconds) && exact(h.ClampedFrom, k.clamped)
}

// routeOf returns hops' route: prev's when it is the same.
func routeOf(hops []Hop, prev *keptSuccess) []hopRoute {
	if prev != nil && len(prev.route) == len(hops) {
		same := true
		for i, h := range hops {
			same = same && prev.route[i] == hopRoute{h.By, h.With}
		}
		if same {
			return prev.route
		}
	}
	route := make([]hopRoute, len(hops))
	for i, h := range hops {
		route[i] = hopRoute{h.By, h.With}
	}
	return route
}
