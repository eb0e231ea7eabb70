package testbed

import (
	"bufio"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Maildir returns the Maildir of a testbed account: Dovecot's
// home=$STATE/mail/%d/%n and mail_location=maildir:~/Maildir (see
// deploy/testbed/dovecot.conf.in). Reading it needs root.
func (e Env) Maildir(t testing.TB, address string) string {
	t.Helper()
	local, domain, ok := strings.Cut(address, "@")
	if !ok {
		t.Fatalf("testbed address %q has no domain", address)
	}
	return filepath.Join(e.Get(t, "STATE"), "mail", domain, local, "Maildir")
}

// DeliveryTime is the ground truth of a delivery: it finds the message with
// this Message-ID in the account's Maildir (new/ and cur/, files named
// after since) and returns the time Dovecot delivered it, which the file
// name holds to the microsecond ("<seconds>.M<microseconds>P<pid>...").
func (e Env) DeliveryTime(t testing.TB, address, messageID string, since time.Time) time.Time {
	t.Helper()
	maildir := e.Maildir(t, address)
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(maildir, sub))
		if err != nil {
			t.Fatalf("reading %s's Maildir: %v", address, err)
		}
		for _, ent := range entries {
			at, ok := maildirNameTime(ent.Name())
			if !ok || at.Before(since) {
				continue
			}
			if maildirMessageID(t, filepath.Join(maildir, sub, ent.Name())) == messageID {
				return at
			}
		}
	}
	t.Fatalf("no file in %s holds %s", maildir, messageID)
	return time.Time{}
}

func maildirNameTime(name string) (time.Time, bool) {
	secs, rest, ok := strings.Cut(name, ".M")
	if !ok {
		return time.Time{}, false
	}
	usecs, _, ok := strings.Cut(rest, "P")
	if !ok {
		return time.Time{}, false
	}
	s, err1 := strconv.ParseInt(secs, 10, 64)
	us, err2 := strconv.ParseInt(usecs, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	return time.Unix(s, us*1000), true
}

func maildirMessageID(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "" // moved from new/ to cur/ meanwhile
		}
		t.Fatal(err)
	}
	defer f.Close()
	h, err := textproto.NewReader(bufio.NewReader(f)).ReadMIMEHeader()
	if err != nil && h == nil {
		return ""
	}
	return h.Get("Message-Id")
}
