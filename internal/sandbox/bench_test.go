package sandbox

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// BenchmarkPostToSubscriberInbox measures one post through the whole
// world: SMTP submission with AUTH, the list simulator, and the copy
// stored in the subscriber's INBOX, seen by an IMAP client that polls
// with NOOP.
func BenchmarkPostToSubscriberInbox(b *testing.B) {
	w, err := Start(DemoOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	c, err := smtp.Dial(w.SMTPAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", DemoMember, DemoMemberPassword)); err != nil {
		b.Fatal(err)
	}
	ic, err := imapclient.DialInsecure(w.IMAPAddr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(DemoReader, DemoReaderPassword).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("<bench-%d@example.org>", i)
		raw := sandboxPost(DemoMember, DemoHealthy, "bench "+id, id)
		if err := c.SendMail(DemoMember, []string{DemoHealthy}, bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(waitTimeout)
		for int(ic.Mailbox().NumMessages) < i+1 {
			if time.Now().After(deadline) {
				b.Fatalf("copy %d never arrived", i)
			}
			if err := ic.Noop().Wait(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
