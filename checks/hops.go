package checks

import (
	"net/mail"
	"regexp"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

// Hop is one step of a message's way, from one Received field.
type Hop struct {
	By   string    // the host that received the message ("mail.example.org"), "" if unnamed
	With string    // the protocol ("ESMTPSA", "LMTP"), "" if unnamed
	At   time.Time // when that host received it; zero when the field has no readable date
}

// maxHops bounds the hops Hops reports: a looping or hostile message may
// carry hundreds of Received fields, and the hops that matter for a list
// copy (submission, the list server, the reader's mailbox) are the last
// few. maxReceivedBytes bounds what is read of one field.
const (
	maxHops          = 32
	maxReceivedBytes = 4 << 10
)

var (
	reReceivedBy   = regexp.MustCompile(`(?i)(?:^|[\s)])by\s+([^\s;()]+)`)
	reReceivedWith = regexp.MustCompile(`(?i)(?:^|[\s)])with\s+([^\s;()]+)`)
	reComment      = regexp.MustCompile(`\([^()]*\)`)
)

// Hops parses the Received fields of a message into its hops in the order
// they happened, oldest first (Received fields are prepended, so the
// header lists them newest first). Received dates have a resolution of one
// second. Fields without a readable date keep a zero At; at most maxHops
// of the newest hops are returned.
func Hops(h gomail.Header) []Hop {
	values := h.Values("Received")
	if len(values) > maxHops {
		values = values[:maxHops]
	}
	hops := make([]Hop, 0, len(values))
	for i := len(values) - 1; i >= 0; i-- {
		hops = append(hops, parseReceived(values[i]))
	}
	return hops
}

func parseReceived(v string) Hop {
	if len(v) > maxReceivedBytes {
		// The date is at the end, after the last ";".
		v = v[:maxReceivedBytes/2] + " " + v[len(v)-maxReceivedBytes/2:]
	}
	v = collapse(readableString(v))
	var hop Hop
	clauses := v
	if i := strings.LastIndexByte(v, ';'); i >= 0 {
		clauses = v[:i]
		hop.At = parseMailDate(v[i+1:])
	}
	// Comments hold "(Postfix)", "(envelope-from <...>)" and the like,
	// which may themselves contain "by" and "with".
	for j := 0; j < 4 && strings.Contains(clauses, "("); j++ {
		clauses = reComment.ReplaceAllString(clauses, " ")
	}
	if m := reReceivedBy.FindStringSubmatch(clauses); m != nil {
		hop.By = strings.ToLower(strings.Trim(m[1], "[]<>"))
	}
	if m := reReceivedWith.FindStringSubmatch(clauses); m != nil {
		hop.With = m[1]
	}
	return hop
}

// parseMailDate reads an RFC 5322 date as mail servers write it: with a
// trailing comment ("(UTC)"), a missing day name, or a two-digit year.
// It returns the zero time for anything it cannot read.
func parseMailDate(s string) time.Time {
	s = strings.TrimSpace(reComment.ReplaceAllString(s, " "))
	if s == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t
	}
	for _, layout := range []string{
		"Mon, 2 Jan 2006 15:04:05 -0700 MST",
		"2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon Jan 2 15:04:05 2006",
		"Mon, 2 Jan 06 15:04:05 -0700",
	} {
		if t, err := time.Parse(layout, collapse(s)); err == nil {
			return t
		}
	}
	return time.Time{}
}

// approval reports whether a list copy was released by a moderator:
// Mailman 2.1 and 3 add X-Mailman-Approved-At (a date) to a held post they
// let through, Sympa adds X-Validation-by (the moderator's address, no
// date). mlmmj marks approved posts in no way.
func approval(h gomail.Header) (bool, time.Time) {
	if v := fieldText(h, "X-Mailman-Approved-At"); strings.TrimSpace(v) != "" {
		return true, parseMailDate(v)
	}
	if strings.TrimSpace(fieldText(h, "X-Validation-By")) != "" {
		return true, time.Time{}
	}
	return false, time.Time{}
}
