package checks

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// FilterHeaderFields are the header fields in which a receiving side's spam
// filter writes its verdict: SpamAssassin's X-Spam-Status, X-Spam-Flag,
// X-Spam-Level and X-Spam-Score, and rspamd's X-Spamd-Result, X-Spam,
// X-Rspamd-Score and X-Rspamd-Action. A Junk folder's watcher fetches them
// too, so that a copy found there carries the filter's reasons.
var FilterHeaderFields = []string{
	"X-Spam-Status", "X-Spam-Flag", "X-Spam-Level", "X-Spam-Score", "X-Spam",
	"X-Spamd-Result", "X-Rspamd-Score", "X-Rspamd-Action",
}

// maxFilterVerdictLen bounds FilterVerdict: rspamd's X-Spamd-Result lists
// every symbol, and the verdict ends up in logs, JSON and the page.
const maxFilterVerdictLen = 600

// FilterVerdict sums up the spam filter's verdict header fields of a
// message, in the order of FilterHeaderFields, each as "Field: value" on
// one line, joined with "; ". Only the topmost instance of each field
// counts: the receiving side's filter writes last, so it writes on top
// (the sender may have written any of these further down). "" when there
// are none.
func FilterVerdict(h mail.Header) string {
	var parts []string
	for _, f := range FilterHeaderFields {
		v := h.Get(f)
		if v == "" {
			continue
		}
		v = strings.Join(strings.Fields(ReadableText([]byte(v))), " ")
		parts = append(parts, f+": "+v)
	}
	return Truncate(strings.Join(parts, "; "), maxFilterVerdictLen)
}
