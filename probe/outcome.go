package probe

import (
	"encoding/json"
	"time"
)

// Outcome is what became of one probe.
type Outcome string

// The outcomes a probe can have; their names are part of listprobe's
// interface (metric labels, once's JSON, the config's expect).
const (
	Delivered  Outcome = "delivered"   // the list's copy arrived, signature valid, before the timeout
	Held       Outcome = "held"        // the list server held the post for moderation
	Rejected   Outcome = "rejected"    // the post was refused for good
	Lost       Outcome = "lost"        // no copy and no evidence before the timeout
	SendFailed Outcome = "send_failed" // the post could not be handed over
	Junk       Outcome = "junk"        // the list delivered, but a reader's filter called the copy spam
	Error      Outcome = "error"       // listprobe could not observe the result
)

// Outcomes lists every outcome, in the order of the README's outcome table.
var Outcomes = []Outcome{Delivered, Held, Rejected, Lost, SendFailed, Junk, Error}

// Result is the record of one finished probe.
type Result struct {
	ID        string    `json:"-"` // the token id
	List      string    `json:"list"`
	Outcome   Outcome   `json:"outcome"`
	Expected  Outcome   `json:"expected"`
	OK        bool      `json:"ok"`
	Reason    string    `json:"reason"`
	Evidence  string    `json:"evidence"`
	Latency   *float64  `json:"latency_seconds"` // seconds; nil unless delivered
	MessageID string    `json:"message_id"`
	SentAt    time.Time `json:"sent_at"`
	// Hops is a copy's Received chain, oldest first: the first reader's
	// copy (delivered, or in its Junk folder).
	Hops []Hop `json:"hops,omitempty"`
	// Authentication is that copy's authentication verdict (a copy in Junk
	// too: it may say why the filter called it spam); nil when no copy
	// came or it was not checked.
	Authentication *Authentication `json:"authentication,omitempty"`
	// Readers are the results of each reader, for a list with several.
	Readers []ReaderResult `json:"readers,omitempty"`
	// Hints are the notices, rejections and bounces that concerned the
	// probe but could not be shown to come from the list's server
	// (trust.go): listed, and used only when no copy came.
	Hints []Hint `json:"hints,omitempty"`
	// Archive is whether a delivered probe reached the list's archive
	// (lists with archive:); it does not change the outcome.
	Archive *ArchiveResult `json:"archive,omitempty"`

	// For the status page and metrics, not in once's JSON.
	Posted         bool          `json:"-"` // the post reached the SMTP server's DATA stage
	Token          string        `json:"-"`
	SubmitReply    string        `json:"-"`
	SubmitDuration time.Duration `json:"-"`
	AcceptedAt     time.Time     `json:"-"` // when SMTP accepted the post; latencies start here
	Started        time.Time     `json:"-"`
	Finished       time.Time     `json:"-"`
	Log            string        `json:"-"`
}

// MarshalJSON writes once's JSON shape: message_id and sent_at are null
// when nothing was posted.
func (r *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	out := struct {
		*plain
		MessageID *string    `json:"message_id"`
		SentAt    *time.Time `json:"sent_at"`
	}{plain: (*plain)(r)}
	if r.Posted {
		out.MessageID, out.SentAt = &r.MessageID, &r.SentAt
	}
	return json.Marshal(out)
}

// Hop is one server a list copy passed, from its Received field. Received
// dates have one-second resolution, so Seconds (since the previous hop) is
// whole seconds.
//
// Seconds is never negative: a Received date earlier than the hop before it
// (a server's clock off, or a forged field) is clamped to zero, and
// ClampedFrom keeps the difference the dates gave (negative; absent when
// nothing was clamped).
type Hop struct {
	By          string    `json:"by"`
	With        string    `json:"with"`
	At          time.Time `json:"at"`
	Seconds     float64   `json:"seconds"`
	ClampedFrom float64   `json:"clamped_from_seconds,omitempty"`
}

// Hint is an unauthenticated message about a probe: what it said, and why
// it is not believed.
type Hint struct {
	Kind    string    `json:"kind"`    // hold_notice, moderator_notice, rejection, bounce, probe_copy (an unauthenticated copy)
	Manager string    `json:"manager"` // the list manager it claims to come from
	Account string    `json:"account"` // the mailbox it was seen in
	SeenAt  time.Time `json:"seen_at"`
	Said    string    `json:"said"` // its reason, cleaned
	Why     string    `json:"why"`  // why it is not believed
	// DNSFailed: DNS kept it from being checked (error-class evidence).
	DNSFailed bool `json:"dns_failed,omitempty"`
	// Contradicted says what showed it wrong (a copy of the probe seen
	// before or after it); "" when nothing did.
	Contradicted string `json:"contradicted,omitempty"`
	// Used: no copy came by the timeout, and this hint decided the outcome.
	Used bool `json:"used,omitempty"`
}
