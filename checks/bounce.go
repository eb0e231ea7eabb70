package checks

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/token"
)

// Bounces: RFC 3464 delivery status notifications, RFC 8098 disposition
// notifications that refuse a message (Dovecot's LDA and Sieve "reject"),
// and the plain-text bounces of older mail servers (qmail, Exim without
// DSN). A bounce counts against a probe's list only when the address whose
// delivery failed is that list: a DSN about one subscriber says nothing
// about the post.

var (
	reSMTPReply      = regexp.MustCompile(`\b[45]\d\d[ -]|\b[45]\.\d{1,3}\.\d{1,3}\b`)
	reAngleRecipient = regexp.MustCompile(`(?m)^\s*<([^>\s]+@[^>\s]+)>:`)
	reDelayWarning   = regexp.MustCompile(`(?i)\b(delayed|delay|warning)\b`)
	reDiagnosticType = regexp.MustCompile(`^(?i)[a-z0-9-]+\s*;\s*`)
)

// bounceOfList keeps the tokens of a bounce whose failed recipient is the
// list the token names. A bounce that names probes only for another
// recipient, or does not say who failed, is unrelated to their outcome.
func bounceOfList(ev Evidence) Evidence {
	if ev.Kind != KindBounce || len(ev.Tokens) == 0 {
		return ev
	}
	var kept []string
	for _, tok := range ev.Tokens {
		if t, err := token.Parse(tok); err == nil && ev.Recipient != "" && strings.EqualFold(t.List, ev.Recipient) {
			kept = append(kept, tok)
		}
	}
	if len(kept) == 0 {
		return Evidence{Kind: KindUnrelated}
	}
	ev.Tokens = kept
	return ev
}

// classifyReport reads a multipart/report from a mail server.
func classifyReport(m *incoming, reportType string) (Evidence, bool) {
	pb := m.parsed()
	switch {
	case reportType == "disposition-notification" || (reportType == "" && len(pb.reports) == 0 && len(pb.mdn) > 0):
		return classifyMDN(m, pb)
	case reportType != "" && reportType != "delivery-status" && reportType != "global-delivery-status":
		// Abuse feedback (ARF), TLS reports and the like are no bounces.
		return Evidence{}, false
	}
	var failed []reportBlock
	recipients := 0
	for _, block := range pb.reports {
		action := strings.ToLower(block.get("action"))
		status := block.get("status")
		if action == "" && status == "" {
			continue // the per-message block, or a recipient's cut short
		}
		recipients++
		if strings.HasPrefix(action, "failed") || action == "" && strings.HasPrefix(status, "5") {
			failed = append(failed, block)
		}
	}
	if len(failed) == 0 && recipients > 0 {
		// Delay warnings ("delayed") and success reports ("delivered",
		// "relayed", "expanded") say nothing final. A report whose
		// recipient blocks were cut off is still a bounce.
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindBounce, Manager: ManagerDSN}
	tokens, list := returnedProbeTokens(m.h, pb)
	ev.Tokens = tokens
	if len(failed) > 0 {
		b := failed[0]
		for _, f := range failed {
			if claimsAny(tokens, reportRecipient(f)) {
				b = f
				break
			}
		}
		ev.Recipient = reportRecipient(b)
		if diag := b.get("diagnostic-code"); diag != "" {
			ev.Reason = collapse(reDiagnosticType.ReplaceAllString(diag, ""))
		} else {
			ev.Reason = collapse(strings.TrimSpace(b.get("status") + " " + Truncate(collapse(pb.text()), 300)))
		}
	}
	if ev.Reason == "" {
		ev.Reason = Truncate(collapse(pb.text()), 300)
	}
	ev.List = list
	if ev.List == "" {
		ev.List = ev.Recipient
	}
	return ev, true
}

// reportRecipient is the address a recipient block of a DSN says failed:
// Final-Recipient, the address the failing server was given, else
// Original-Recipient. A list address expanded by an alias to its
// subscribers fails as Final-Recipient: subscriber, Original-Recipient:
// list, and is no failure of the list.
func reportRecipient(b reportBlock) string {
	if r := addressOf(b.get("final-recipient")); r != "" {
		return r
	}
	return addressOf(b.get("original-recipient"))
}

// claimsAny reports whether one of the tokens claims list.
func claimsAny(tokens []string, list string) bool {
	for _, tok := range tokens {
		if t, err := token.Parse(tok); err == nil && list != "" && strings.EqualFold(t.List, list) {
			return true
		}
	}
	return false
}

// classifyMDN reads a message disposition notification: Dovecot's LDA and
// Sieve "reject" send one (Disposition: ...; deleted) when they refuse a
// message. A reader's "displayed" receipt is not a rejection.
func classifyMDN(m *incoming, pb *parsedBody) (Evidence, bool) {
	var disposition string
	for _, block := range pb.mdn {
		if d := block.get("disposition"); d != "" {
			disposition = strings.ToLower(d)
		}
	}
	if !strings.Contains(disposition, "deleted") && !strings.Contains(disposition, "denied") {
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindBounce, Manager: ManagerDSN, Reason: Truncate(collapse(pb.text()), 300)}
	ev.Tokens, ev.List = returnedProbeTokens(m.h, pb)
	for _, block := range pb.mdn {
		if r := addressOf(block.get("final-recipient")); r != "" && ev.Recipient == "" {
			ev.Recipient = r
		}
	}
	if ev.List == "" {
		ev.List = ev.Recipient
	}
	return ev, true
}

// classifyPlainBounce reads a bounce that is not an RFC 3464 report: the
// text explains, and a copy of the message follows it inline or attached.
func classifyPlainBounce(m *incoming) Evidence {
	h := m.h
	if !h.Has("X-Failed-Recipients") && reDelayWarning.MatchString(m.subject) {
		return Evidence{Kind: KindUnrelated}
	}
	pb := m.parsed()
	text := pb.text()
	explanation := text
	if start, end, ok := copyOfMessageLine(text); ok {
		explanation = text[:start]
		if len(pb.attached) == 0 {
			// The returned message follows the marker as text (qmail).
			pb.attached = append(pb.attached, readAttached([]byte(strings.TrimLeft(text[end:], "\n")), false))
		}
	}
	ev := Evidence{Kind: KindBounce, Manager: ManagerMTA}
	ev.Reason = smtpReason(explanation)
	if ev.Reason == "" {
		ev.Reason = m.subject
	}
	ev.Tokens, ev.List = returnedProbeTokens(h, pb)
	if failed := fieldText(h, "X-Failed-Recipients"); failed != "" {
		for _, r := range strings.Split(failed, ",") {
			if a := addressOf(r); a != "" && (ev.Recipient == "" || claimsAny(ev.Tokens, a)) {
				ev.Recipient = a
			}
		}
	} else if m := reAngleRecipient.FindStringSubmatch(explanation); m != nil {
		ev.Recipient = strings.ToLower(m[1])
	}
	if ev.List == "" {
		ev.List = ev.Recipient
	}
	return ev
}

// reCopyOfMessage finds the words that introduce the returned message in
// a plain bounce; copyOfMessageLine widens the match to its line (a
// leading "^.*" in the expression would cost a scan per byte).
var reCopyOfMessage = regexp.MustCompile(`(?i)copy of the message|below this line|original message follows|returned message|message headers follow`)

// copyOfMessageLine finds the first line of text that introduces the
// returned message, and returns where it starts and ends.
func copyOfMessageLine(text string) (start, end int, ok bool) {
	loc := reCopyOfMessage.FindStringIndex(text)
	if loc == nil {
		return 0, 0, false
	}
	start = strings.LastIndexByte(text[:loc[0]], '\n') + 1
	end = len(text)
	if i := strings.IndexByte(text[loc[0]:], '\n'); i >= 0 {
		end = loc[0] + i
	}
	return start, end, true
}

// smtpReason returns the first line of text that carries an SMTP reply or
// enhanced status code, with the indented lines that continue it.
func smtpReason(text string) string {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if !reSMTPReply.MatchString(line) {
			continue
		}
		parts := []string{strings.TrimSpace(line)}
		indent := leadingSpace(line)
		for _, next := range lines[i+1:] {
			if strings.TrimSpace(next) == "" || leadingSpace(next) <= indent {
				break
			}
			parts = append(parts, strings.TrimSpace(next))
		}
		return collapse(strings.Join(parts, " "))
	}
	return ""
}

func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}

// returnedProbeTokens finds the probe a bounce returns, by the returned
// message's own header (token field, a Message-ID that is a token, a probe
// subject), by the Message-IDs the report names (an MDN's
// Original-Message-ID, a text/rfc822-headers part: a returned copy that
// lost the X-Listprobe-Token field is still matched, as the Message-ID's
// id-left is the token), and by the bounce's own In-Reply-To or a
// References naming a single message, which some servers set. The returned
// body is not read: a person's message that quotes a probe and bounced is
// not the probe. list is the returned message's To.
func returnedProbeTokens(h mail.Header, pb *parsedBody) (tokens []string, list string) {
	for _, e := range pb.attached {
		if isConfirmStub(e.header) {
			continue
		}
		tokens = append(tokens, probeHeaderTokens(e.header)...)
		if list == "" {
			if addrs, err := addressParser.ParseList(fieldText(e.header, "To")); err == nil && len(addrs) > 0 {
				list = strings.ToLower(addrs[0].Address)
			}
		}
	}
	ids := originalMessageIDs(pb)
	ids = append(ids, fieldText(h, "In-Reply-To"))
	if refs := strings.Fields(fieldText(h, "References")); len(refs) == 1 {
		ids = append(ids, refs[0])
	}
	for _, id := range ids {
		if tok, ok := messageIDToken(id); ok {
			tokens = append(tokens, tok)
		}
	}
	return dedupe(tokens), list
}

// originalMessageIDs returns the Message-IDs (with angle brackets) of the
// original messages that a notice or bounce carries: attached or returned
// messages, text/rfc822-headers parts and an MDN's Original-Message-ID.
// Classify matches bounces by them (a probe's Message-ID holds its token);
// Mailman's "confirm" stub attached to moderator notices is left out.
func originalMessageIDs(pb *parsedBody) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		out = append(out, id)
	}
	for _, e := range pb.attached {
		if isConfirmStub(e.header) {
			continue
		}
		if ids, err := e.header.MsgIDList("Message-Id"); err == nil {
			for _, id := range ids {
				add("<" + id + ">")
			}
		} else {
			add(fieldText(e.header, "Message-Id"))
		}
	}
	for _, block := range append(pb.reports, pb.mdn...) {
		for _, f := range block {
			if f.key == "original-message-id" {
				add(f.value)
			}
		}
	}
	return out
}
