package imapwatch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/msgid"
	"github.com/listprobe/listprobe/checks/token"
)

// A list copy that passed many servers (or one that stamps huge Received
// fields) carries more than HeaderLimit of Received fields above the fields
// that identify it. They are fetched apart, each section with its own
// bound, so the copy is still recognised: before, the bound cut off its
// Message-ID, From, Subject and token and the probe was reported lost.
// The same holds for the other bulky fields (To, Cc, References).
func TestMailboxBulkyFieldsNeverPushOutTheIdentifyingOnes(t *testing.T) {
	signer, err := token.NewSigner([]byte("listprobe-identity-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		fields []string
	}{{"classifier's fields", checks.ClassifyHeaderFields}, {"whole header", nil}} {
		t.Run(tc.name, func(t *testing.T) { bulkyFieldsNeverPushOut(t, signer, tc.fields) })
	}
}

func bulkyFieldsNeverPushOut(t *testing.T, signer *token.Signer, fields []string) {
	srv := startMailboxServer(t, mailboxTestServerOptions{})
	r := runTestMailbox(t, srv.address(), func(o *Options) { o.HeaderFields = fields })
	r.waitState(t, true)

	const list = "probe-test@lists.example.org"
	probe := func() (compose.Probe, string) {
		p := compose.Probe{From: "poster@example.org", List: list, Token: signer.Encode(signer.NewToken(list, time.Now())), Date: time.Now()}
		raw, err := compose.Message(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p, string(raw)
	}
	var received strings.Builder
	for i := 0; received.Len() <= 70<<10; i++ {
		fmt.Fprintf(&received, "Received: from hop%d.example.org (hop%d.example.org [192.0.2.%d])\r\n\tby hop%d.example.org (Postfix) with ESMTP id %040d\r\n\tfor <reader@example.org>; Sun, 6 Dec 2026 10:%02d:%02d +0000\r\n",
			i+1, i+1, i%250+1, i, i, 59-i/60%60, 59-i%60)
	}
	bulky := map[string]string{
		"Received":   received.String(),
		"To":         hugeField("To", 70<<10, true),
		"Cc":         hugeField("Cc", 70<<10, true),
		"References": hugeField("References", 70<<10, true),
	}
	for _, name := range []string{"Received", "To", "Cc", "References"} {
		t.Run(name, func(t *testing.T) {
			p, raw := probe()
			if name != "Received" {
				// Replace the probe's own field, if it has one, by the
				// huge one, on top.
				raw = strings.Replace(raw, name+": "+list+"\r\n", "", 1)
			}
			srv.deliver(t, bulky[name]+raw, &imap.AppendOptions{})
			msg := r.next(t)
			if got := msg.Header.Get("Message-Id"); !msgid.Same(got, p.MessageID()) {
				t.Fatalf("Message-ID = %q, want %q (truncated %v)", got, p.MessageID(), msg.HeaderTruncated)
			}
			if !msg.HeaderTruncated {
				t.Errorf("HeaderTruncated is false for %d KB of %s", len(bulky[name])>>10, name)
			}
			ev := checks.Classify(msg.Header, msg.Body)
			if ev.Kind != checks.KindProbeCopy || len(ev.Tokens) != 1 || ev.Tokens[0] != p.Token || !ev.IsCopyOf(list, p.From) {
				t.Errorf("classified as %+v, want the copy of the probe", ev)
			}
			if name == "Received" {
				// The newest hops, which matter (the list server's, the
				// reader's), are the ones kept.
				hops := checks.Hops(msg.Header)
				if len(hops) == 0 || hops[len(hops)-1].By != "hop0.example.org" {
					t.Errorf("hops %+v, want the newest last", hops)
				}
			}
		})
	}
}
