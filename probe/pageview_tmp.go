package probe

import "time"

// TEMP: stand-ins until the lead's MailmanState.Poster/Reader and
// Result.Hops land. At merge, delete this file and replace the bodies of
// membersOf and hopsOf in pageview.go as their comments say.

// MemberState is a probe account's membership of a list, as Mailman says.
type MemberState struct {
	Subscribed                                     bool
	DeliveryMode, DeliveryStatus, ModerationAction string
}

// Hop is one step of a probe copy's way, from one Received field.
type Hop struct {
	By      string    `json:"by"`
	With    string    `json:"with"`
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
}

// TEMP body: at merge, `return st.Poster, st.Reader, st.Up`.
func membersOf(st MailmanState) (poster, reader MemberState, known bool) {
	return MemberState{}, MemberState{}, false
}

// TEMP body: at merge, `return r.Hops`.
func hopsOf(r *Result) []Hop { return nil }
