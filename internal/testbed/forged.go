package testbed

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ForgedHoldNotice returns a hold notice as the stranger's host forges it:
// from the list's -bounces address to the reader, with a Subject of its
// own (to find it by) and an Authentication-Results field that claims the
// readers' MX found dkim=pass for the list domain. extra (header lines,
// each ending in CRLF) goes before the body. Send it with InjectForeign.
func (e Env) ForgedHoldNotice(t testing.TB, extra string) (msg []byte, from, subject string) {
	t.Helper()
	list := e.Get(t, "LIST")
	from = strings.Replace(list, "@", "-bounces@", 1)
	subject = fmt.Sprintf("Your message to %s awaits moderator approval %d", list, time.Now().UnixNano())
	msg = []byte("From: " + from + "\r\nTo: " + e.Get(t, "READER") + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <forged." + fmt.Sprint(time.Now().UnixNano()) + "@" + e.Get(t, "STRANGER_DOMAIN") + ">" +
		"\r\nAuthentication-Results: " + e.Get(t, "AUTHSERV_ID") + "; dkim=pass header.d=" + e.Get(t, "LIST_DOMAIN") +
		"\r\n" + extra + "\r\nforged\r\n")
	return msg, from, subject
}
