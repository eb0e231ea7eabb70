package mailmanrest

import (
	"slices"
	"strings"

	"github.com/listprobe/listprobe/checks/servertext"
)

// What a Mailman REST API answers is text from a server, like a notice in a
// mailbox: it is cleaned the same way (one line, no control characters,
// length cut) before anything stores it, and a setting whose value is not
// one Mailman has is not passed on as if it were.

// Bounds on REST text, by what it is.
const (
	maxRESTReason  = servertext.MaxLen // a held reason, like a notice's reason
	maxRESTField   = 320               // an address, a subject, a Message-ID, a rule name
	maxRESTSetting = 64                // an unknown setting value, shown to say what it was
	maxRESTList    = 32                // reasons or rule hits kept per held message
)

// Mailman's value sets, from its REST API (mailman.interfaces.action.Action,
// mailman.interfaces.member.DeliveryMode and DeliveryStatus).
var (
	MailmanActions          = []string{"accept", "hold", "reject", "discard", "defer"}
	MailmanDeliveryModes    = []string{"regular", "plaintext_digests", "mime_digests", "summary_digests"}
	MailmanDeliveryStatuses = []string{"enabled", "by_user", "by_bounces", "by_moderator", "unknown"}
)

// UnknownSettingPrefix starts the value of a setting that Mailman answered
// with a value outside its known set: "unknown: " and the value, cleaned
// and cut.
const UnknownSettingPrefix = "unknown: "

// restText cleans one text field of a REST answer and cuts it to n bytes.
func restText(s string, n int) string { return servertext.Clean(s, n) }

// restSetting returns value when it is one of known (or empty, for "not
// set"), else UnknownSettingPrefix and the value cleaned and cut: a page or
// a metric never shows a setting Mailman cannot have as if it were one.
func restSetting(value string, known []string) string {
	if value == "" || slices.Contains(known, value) {
		return value
	}
	return UnknownSettingPrefix + restText(value, maxRESTSetting)
}

// restList cleans a list of texts, keeping at most maxRESTList of them.
func restList(in []string, n int) []string {
	if len(in) > maxRESTList {
		in = in[:maxRESTList]
	}
	var out []string
	for _, s := range in {
		out = append(out, restText(s, n))
	}
	return out
}

// cleanHeld cleans every text field of a held message but the message
// itself, which is parsed, not shown.
func (h HeldMessage) cleaned() HeldMessage {
	h.MessageID = restText(h.MessageID, maxRESTField)
	h.Sender = restText(h.Sender, maxRESTField)
	h.Subject = restText(h.Subject, maxRESTField)
	h.Reason = restText(h.Reason, maxRESTReason)
	h.Reasons = restList(h.Reasons, maxRESTReason)
	h.RuleHits = restList(h.RuleHits, maxRESTField)
	return h
}

func (m ListModeration) cleaned() ListModeration {
	m.DefaultMemberAction = restSetting(m.DefaultMemberAction, MailmanActions)
	m.DefaultNonmemberAction = restSetting(m.DefaultNonmemberAction, MailmanActions)
	return m
}

func (m Membership) cleaned() Membership {
	// Mailman 3.0 says "default" for a member without an action of its own.
	if m.ModerationAction != "default" {
		m.ModerationAction = restSetting(m.ModerationAction, MailmanActions)
	}
	m.DeliveryMode = restSetting(m.DeliveryMode, MailmanDeliveryModes)
	m.DeliveryStatus = restSetting(m.DeliveryStatus, MailmanDeliveryStatuses)
	return m
}

// restMemberID keeps a member id usable in a URL path segment only when it
// looks like one: hex (API 3.1) or decimal (3.0).
func restMemberID(id string) string {
	if id == "" || len(id) > 64 || strings.Trim(id, "0123456789abcdefABCDEF-") != "" {
		return ""
	}
	return id
}
