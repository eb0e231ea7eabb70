package checks

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// noticeCauses is, for every notice among the fixtures (hold and moderator
// notices, rejections, bounces), the words in which the server gives its
// cause: why it held or refused the post. A new fixture needs an entry.
var noticeCauses = map[string]string{
	"bounce-dovecot-quota.eml":                            "Quota exceeded (mailbox for user is full)",
	"bounce-dovecot-sieve-reject.eml":                     "Posts from monitoring accounts are not accepted here",
	"bounce-exim-latin1-diagnostic.eml":                   "Empfänger unbekannt",
	"bounce-exim-rejected.eml":                            "Posting to this list is restricted",
	"bounce-iso-2022-jp-notification.eml":                 "宛先のメーリングリストは存在しません",
	"bounce-mailman3-real-postfix-dsn-unknown-list.eml":   "mailbox unavailable",
	"bounce-mta-qmail-plain.eml":                          "Recipient address rejected: list closed",
	"bounce-postfix-headers-only.eml":                     "Message size exceeds fixed limit",
	"bounce-postfix-returned-header-lost-token.eml":       "Posting to this list is restricted",
	"bounce-postfix-unknown-list.eml":                     "User unknown in local recipient table",
	"hold_notice-mailman2-nonmember.eml":                  "Post by non-member to a members-only list",
	"hold_notice-mailman3-forged-token.eml":               "The message comes from a moderated member",
	"hold_notice-mailman3-moderated-member.eml":           "The message comes from a moderated member",
	"hold_notice-mailman3-nonmember-base64.eml":           "The message is not from a list member",
	"hold_notice-mailman3-other-lists-probe.eml":          "The message comes from a moderated member",
	"hold_notice-mailman3-real-emergency.eml":             "Emergency moderation is in effect for this list",
	"hold_notice-mailman3-real-moderated-member.eml":      "The message comes from a moderated member",
	"hold_notice-mailman3-real-nonmember.eml":             "The message is not from a list member",
	"hold_notice-mailman3-someone-elses-post.eml":         "The message is not from a list member",
	"mlmmj-hold_notice-moderated.eml":                     "because this is a moderated list",
	"mlmmj-hold_notice-nonsubscriber.eml":                 "because you are not a subscriber",
	"mlmmj-moderator_request-moderated.eml":               "because this is a moderated list",
	"mlmmj-moderator_request-nonsubscriber.eml":           "because the requester is not a subscriber",
	"mlmmj-rejection-access.eml":                          "because of an access rule",
	"mlmmj-rejection-maxmailsize.eml":                     "because it exceeded the maximum allowed message size",
	"mlmmj-rejection-subscribers-only.eml":                "because you are not a list subscriber",
	"mlmmj-rejection-tocc.eml":                            "because the list address was not found",
	"moderator_notice-mailman2-nonmember.eml":             "Post by non-member to a members-only list",
	"moderator_notice-mailman3-moderated-member.eml":      "The message comes from a moderated member",
	"moderator_notice-mailman3-real-emergency.eml":        "Emergency moderation is in effect for this list",
	"moderator_notice-mailman3-real-moderated-member.eml": "The message comes from a moderated member",
	"moderator_notice-mailman3-someone-elses-post.eml":    "The message is not from a list member",
	"rejection-mailman2-moderator-refused.eml":            "Non-members are not allowed to post messages to this list",
	"rejection-mailman2-nonmember.eml":                    "because you are not subscribed to the mailing list",
	"rejection-mailman3-moderated-member.eml":             "The message comes from a moderated member",
	"rejection-mailman3-moderator-refused.eml":            "Automated test posts are not wanted on this list",
	"rejection-mailman3-real-member-reject.eml":           "The message comes from a moderated member",
	"rejection-mailman3-real-moderator-reject.eml":        "Probe posts are not welcome here",
	"sympa-hold_notice-editorkey-en.eml":                  "has been forwarded to the moderator(s)",
	"sympa-hold_notice-editorkey-fr.eml":                  "a été transmis au(x) modérateur(s)",
	"sympa-moderator_request-editorkey-en.eml":            "to be approved",
	"sympa-moderator_request-editorkey-fr.eml":            "Message à modérer",
	"sympa-rejection-closed-en.eml":                       "Message distribution in this list is not allowed",
	"sympa-rejection-moderator-en.eml":                    "has been rejected by the moderator",
	"sympa-rejection-moderator-fr.eml":                    "a été rejeté par moderator@example.test",
	"sympa-rejection-subscribers-only-en.eml":             "restricted to list subscribers",
	"sympa-rejection-subscribers-only-fr.eml":             "réservée aux abonnés",
}

// reasonLabelBytes is how much of a reason the metric label
// listprobe_last_reason_info keeps (probe's reasonLabel): the cause must be
// within it, or the alert that quotes the label loses it.
const reasonLabelBytes = 120

var angleAddress = regexp.MustCompile(`<[^<>\s]*>`)

// Every classifier's reason, on every notice among the fixtures, carries
// the server's cause, within the part the metric label keeps; a reason
// that announces the post ("has been submitted to the list") without
// saying why it is held fails.
func TestNoticeReasonsCarryTheServersCause(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range evidenceFixtures(t) {
		name := filepath.Base(path)
		kind, _ := kindFromFixtureName(name)
		switch kind {
		case KindHoldNotice, KindModeratorNotice, KindRejection, KindBounce:
		default:
			continue
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			cause, ok := noticeCauses[name]
			if !ok {
				t.Fatalf("no entry in noticeCauses: add the words in which this notice gives its cause")
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h, body := splitEvidenceFixture(t, raw)
			ev := Classify(h, body)
			if !strings.Contains(ev.Reason, cause) {
				t.Errorf("reason %q lacks the server's cause %q", ev.Reason, cause)
			}
			// The label leaves out addresses in angle brackets, as probe's
			// reasonLabel does, then keeps the first bytes.
			label := Truncate(angleAddress.ReplaceAllString(ev.Reason, "…"), reasonLabelBytes)
			if !strings.Contains(label, cause) {
				t.Errorf("reason %q: the cause %q is cut from its first %d bytes, which the metric label keeps", ev.Reason, cause, reasonLabelBytes)
			}
		})
	}
	for name := range noticeCauses {
		if !seen[name] {
			t.Errorf("noticeCauses names %s, which is not a notice fixture", name)
		}
	}
}
