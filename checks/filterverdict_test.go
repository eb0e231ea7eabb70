package checks

import (
	"bufio"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

func headerOf(t *testing.T, raw string) mail.Header {
	t.Helper()
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(raw + "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return mail.Header{Header: message.Header{Header: h}}
}

// The filter's verdict is SpamAssassin's and rspamd's fields, the topmost
// of each (the receiving side writes on top; the sender may have written
// its own below), on one line without control characters (bidi controls
// are escaped where text is printed, as for all server text), and bounded.
func TestFilterVerdict(t *testing.T) {
	h := headerOf(t, "X-Spamd-Result: default: True [20.01 / 15.00];\r\n\tLISTPROBE_JUNK_ALL(20.00)[]\r\n"+
		"X-Rspamd-Action: add header\r\nX-Rspamd-Score: 20.01\r\nX-Rspamd-Queue-Id: 4F1\r\n"+
		"X-Spam-Status: Yes, score=20.01\x1b[2J\r\nX-Spam-Flag: YES\r\nX-Spam: Yes\r\n"+
		"From: a@example.org\r\nX-Spam-Status: No, score=-100 (the sender's own)\r\nX-Spam-Flag: NO")
	got := FilterVerdict(h)
	want := "X-Spam-Status: Yes, score=20.01[2J; X-Spam-Flag: YES; X-Spam: Yes; X-Spamd-Result: default: True [20.01 / 15.00]; LISTPROBE_JUNK_ALL(20.00)[]; X-Rspamd-Score: 20.01; X-Rspamd-Action: add header"
	if got != want {
		t.Errorf("FilterVerdict =\n%q\nwant\n%q", got, want)
	}
	if strings.ContainsAny(got, "\x1b\r\n\t") {
		t.Errorf("control or bidi characters kept: %q", got)
	}
	if v := FilterVerdict(headerOf(t, "From: a@example.org\r\nSubject: hi")); v != "" {
		t.Errorf("a message without a filter's fields: %q", v)
	}
	long := FilterVerdict(headerOf(t, "X-Spamd-Result: "+strings.Repeat("SYMBOL(1.00)[x]; ", 500)))
	if len(long) > maxFilterVerdictLen+4 || !utf8.ValidString(long) {
		t.Errorf("a long verdict is %d bytes, bound %d", len(long), maxFilterVerdictLen)
	}
}
