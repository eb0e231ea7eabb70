package checks

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/msgid"
	"github.com/listprobe/listprobe/checks/token"
)

// classifyCopy recognises a list's copy of a probe (see Copy for the ways
// it may carry the probe). Whether it is the copy of a given list's probe
// from a given poster is Evidence.IsCopyOf's to say.
func classifyCopy(m *incoming) (Evidence, bool) {
	h := m.h
	if tok, ok := messageIDToken(fieldText(h, "Message-Id")); ok {
		return Evidence{Kind: KindProbeCopy, Copy: CopyByMessageID, Tokens: []string{tok}, List: probeCopyList(h, tok)}, true
	}
	tok, ok := probeSubjectToken(m.subject)
	if !ok {
		return Evidence{}, false
	}
	t, err := token.Parse(tok)
	if err != nil || !m.fromList(t.List) {
		return Evidence{}, false
	}
	if len(token.Find(fieldText(h, "In-Reply-To")+" "+fieldText(h, "References"))) > 0 {
		// An answer to a probe, sent through an anonymous list with its
		// "Re:" removed: it refers to the probe, it is not the probe.
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindProbeCopy, Copy: CopyFromList, Tokens: []string{tok}, List: t.List}
	if len(m.body) > 0 {
		pb := m.parsed()
		if !pb.digest && len(pb.attached) == 1 {
			if wrapped, ok := messageIDToken(fieldText(pb.attached[0].header, "Message-Id")); ok && wrapped == tok {
				ev.Copy = CopyWrapped
			}
		}
	}
	return ev, true
}

// messageIDToken returns the token that is the whole id-left of a
// Message-ID ("<lp1.….…@example.org>"), as probes make them. A Message-ID
// that merely contains a token is no probe's.
func messageIDToken(v string) (string, bool) {
	left, _, ok := msgid.Split(v)
	if !ok {
		return "", false
	}
	toks := token.Find(left)
	if len(toks) != 1 || !strings.EqualFold(toks[0], left) {
		return "", false
	}
	return toks[0], true
}

// reSubjectTag is a list's subject tag, "[Test]", "(test)" or full-width
// "【Test】", with its content in one of the groups.
var reSubjectTag = regexp.MustCompile(`^\s*(?:\[([^\]]*)\]|\(([^)]*)\)|【([^】]*)】|［([^］]*)］|（([^）]*)）)\s*`)

// reMarkerTag is a tag that marks a reply or forward rather than naming a
// list: "[Fwd]", "(fwd)", "[RE]".
var reMarkerTag = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|sv|vs|antw|tr|rif|odp|ynt|rv|enc|vb|doorst|pd|i|r|vl|res|ref|svar|vid|fs|转发|回复|轉寄|回覆|転送|返信)\s*(\[\d+\]|\^\d+)?\s*[:：]?\s*$`)

// probeSubjectToken returns the token of a subject that is a probe's as a
// list passes it on: "listprobe delivery test <token>", after nothing but
// list tags in brackets or parentheses, and followed by nothing. Any other
// text before it (a reply or forward marker in any language: "Re:",
// "Fwd:", "AW:", "RV:", "I:", "ENC:", "VB:", "Doorst:", "转发:", "Antw:"...)
// or after it ("(fwd)", the "]" closing "[Fwd: ...") makes it a person's
// subject, not the probe's. Lists whose subject prefix is not a bracketed
// tag ("Test: ") are missed here; their copies still match by Message-ID.
func probeSubjectToken(subject string) (string, bool) {
	s := collapse(subject)
	i := strings.Index(s, compose.SubjectPrefix)
	if i < 0 {
		return "", false
	}
	rest := strings.TrimSpace(s[i+len(compose.SubjectPrefix):])
	toks := token.Find(rest)
	if len(toks) != 1 || !strings.EqualFold(rest, toks[0]) {
		return "", false
	}
	lead := s[:i]
	for strings.TrimSpace(lead) != "" {
		m := reSubjectTag.FindStringSubmatch(lead)
		if m == nil || isMarkerTag(strings.Join(m[1:], "")) {
			return "", false
		}
		lead = lead[len(m[0]):]
	}
	return toks[0], true
}

// isMarkerTag reports a bracketed tag that is a reply or forward marker:
// the tag itself ("[Fwd]") or a marker starting it ("[Fwd: other words]").
func isMarkerTag(tag string) bool {
	if reMarkerTag.MatchString(tag) {
		return true
	}
	if before, _, ok := strings.Cut(strings.ReplaceAll(tag, "：", ":"), ":"); ok {
		return reMarkerTag.MatchString(before)
	}
	return false
}

// probeHeaderTokens returns the tokens by which a probe's own header (one
// attached to a notice or returned in a bounce) names it: its token field,
// a Message-ID that is a token, and a probe subject. A person's message
// that quotes or answers a probe names none.
func probeHeaderTokens(h mail.Header) []string {
	var out []string
	if v := strings.TrimSpace(fieldText(h, token.Header)); v != "" {
		if toks := token.Find(v); len(toks) == 1 && strings.EqualFold(toks[0], v) {
			out = append(out, toks[0])
		}
	}
	if tok, ok := messageIDToken(fieldText(h, "Message-Id")); ok {
		out = append(out, tok)
	}
	if tok, ok := probeSubjectToken(decodedSubject(h)); ok {
		out = append(out, tok)
	}
	return dedupe(out)
}

// probeCopyList names the list a probe copy came through: List-Post, then
// the To or Cc address the token claims, then List-Id read as
// name.host (the form Mailman uses), then the first To address.
func probeCopyList(h mail.Header, tok string) string {
	if lp := fieldText(h, "List-Post"); lp != "" {
		if i := strings.Index(strings.ToLower(lp), "mailto:"); i >= 0 {
			addr := lp[i+len("mailto:"):]
			if j := strings.IndexAny(addr, ">?, \t"); j >= 0 {
				addr = addr[:j]
			}
			if strings.Contains(addr, "@") {
				return strings.ToLower(addr)
			}
		}
	}
	var recipients []string
	for _, key := range []string{"To", "Cc"} {
		if addrs, err := addressParser.ParseList(fieldText(h, key)); err == nil {
			for _, a := range addrs {
				recipients = append(recipients, strings.ToLower(a.Address))
			}
		}
	}
	if t, err := token.Parse(tok); err == nil {
		for _, r := range recipients {
			if r == t.List {
				return r
			}
		}
	}
	if id := listIDField(h); id != "" {
		if name, host, ok := strings.Cut(id, "."); ok && name != "" && host != "" {
			return name + "@" + host
		}
	}
	if len(recipients) > 0 {
		return recipients[0]
	}
	return ""
}
