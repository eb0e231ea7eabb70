package authn

import (
	"strings"
	"testing"
)

// unsignedCopy is a copy without any signature: only the receiver's
// Authentication-Results or Received field can vouch for it.
const unsignedCopy = "From: list-bounces@lists.example.test\r\n" +
	"To: poster@poster.example\r\n" +
	"Subject: Your message awaits moderator approval\r\n" +
	"\r\n" +
	"held\r\n"

func trustOpts(w *world) *Options {
	o := w.opts()
	o.ListHosts = nil
	return o
}

func TestTrustedAuthenticationResultsAuthenticate(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct{ ar, reason string }{
		{"mx.example.org; dkim=pass (2048-bit key; unprotected) header.d=lists.example.test header.b=abc",
			"Authentication-Results of mx.example.org: dkim=pass for lists.example.test"},
		{"MX.example.org 1; spf=pass (sender SPF authorized) smtp.mailfrom=list-bounces@lists.example.test",
			"Authentication-Results of mx.example.org: spf=pass for lists.example.test"},
	} {
		v := verify(t, delivered(unsignedCopy, tc.ar), trustOpts(w))
		if !v.Authenticated || v.Path != PathAuthRes || v.Reason != tc.reason {
			t.Errorf("%s: %v %s %q", tc.ar, v.Authenticated, v.Path, v.Reason)
		}
	}
	v := verify(t, delivered(unsignedCopy, "mx.example.org; spf=pass smtp.mailfrom=list-bounces@lists.example.test"), trustOpts(w))
	wantCheck(t, "spf", v.Checks.SPF, ResultPass, "lists.example.test")
	// Another authserv-id, even at the top, is not the receiver's.
	v = verify(t, delivered(unsignedCopy, "evil.example; dkim=pass header.d=lists.example.test"), trustOpts(w))
	if v.Authenticated || len(v.AuthResults) != 0 {
		t.Errorf("another authserv-id: %q %+v", v.Reason, v.AuthResults)
	}
	// A pass for another domain proves nothing about the list.
	v = verify(t, delivered(unsignedCopy, "mx.example.org; dkim=pass header.d=stranger.example; spf=pass smtp.mailfrom=x@stranger.example"), trustOpts(w))
	if v.Authenticated {
		t.Errorf("a stranger's pass authenticated: %q", v.Reason)
	}
}

func TestUntrustedAuthenticationResultsAreIgnored(t *testing.T) {
	w := newWorld(t)
	forged := "Authentication-Results: mx.example.org; dkim=pass header.d=lists.example.test; spf=pass smtp.mailfrom=lists.example.test\r\n"
	entry := func(from string) string {
		return "Received: from " + from + "\r\n\tby mx.example.org (Postfix) with ESMTPS id 9; Sat, 06 Dec 2025 10:00:01 +0000\r\n"
	}
	for _, tc := range []struct{ name, raw string }{
		{"another authserv-id", "Authentication-Results: evil.example; dkim=pass header.d=lists.example.test; spf=pass smtp.mailfrom=lists.example.test\r\n" +
			entry("stranger.example (stranger.example [203.0.113.5])") + unsignedCopy},
		{"below the receiver's entry hop", entry("stranger.example (stranger.example [203.0.113.5])") + forged + unsignedCopy},
		{"below an entry hop whose HELO names the receiver", entry("mx.example.org (unknown [203.0.113.5])") + forged + unsignedCopy},
		{"added by a stranger above the receiver", forged +
			"Received: from mx.example.org (mx.example.org [198.51.100.1]) by relay.stranger.example with ESMTP id 1; Sat, 06 Dec 2025 10:00:03 +0000\r\n" +
			delivered(unsignedCopy, "")},
		{"no Received at all (an IMAP APPEND)", forged + unsignedCopy},
		{"below a stranger's fake receiver hop", entry("stranger.example (stranger.example [203.0.113.5])") +
			"Received: from x (lists.example.test [192.0.2.10]) by mx.example.org with ESMTP id 2; Sat, 06 Dec 2025 10:00:00 +0000\r\n" +
			forged + unsignedCopy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := w.opts()
			v := verify(t, tc.raw, o)
			if v.Authenticated {
				t.Fatalf("authenticated: %s %q", v.Path, v.Reason)
			}
			if len(v.AuthResults) != 0 {
				t.Errorf("trusted results %+v", v.AuthResults)
			}
			wantCheck(t, "spf", v.Checks.SPF, ResultNone, "")
		})
	}
}

func TestReceivedHopOfTheListServerAuthenticates(t *testing.T) {
	w := newWorld(t)
	v := verify(t, delivered(unsignedCopy, ""), w.opts())
	if !v.Authenticated || v.Path != PathReceived || v.Received == nil || v.Received.Address != "192.0.2.10" {
		t.Fatalf("verdict %v %s %q %+v", v.Authenticated, v.Path, v.Reason, v.Received)
	}
	// By the reverse name the receiver recorded.
	o := w.opts()
	o.ListHosts = []string{"Lists.Example.Test."}
	if v := verify(t, delivered(unsignedCopy, ""), o); !v.Authenticated || v.Path != PathReceived {
		t.Fatalf("by name: %v %q", v.Authenticated, v.Reason)
	}
	entry := func(from string) string {
		return "Received: from " + from + "\r\n\tby mx.example.org (Postfix) with ESMTPS id 9; Sat, 06 Dec 2025 10:00:01 +0000\r\n"
	}
	for _, tc := range []struct{ name, raw string }{
		{"HELO names the list host", entry("lists.example.test (unknown [203.0.113.5])") + unsignedCopy},
		{"HELO is the list's address", entry("[192.0.2.10] (unknown [203.0.113.5])") + unsignedCopy},
		{"a stranger's hop below the entry names the list", entry("stranger.example (stranger.example [203.0.113.5])") +
			"Received: from lists.example.test (lists.example.test [192.0.2.10]) by mx.example.org; Sat, 06 Dec 2025 10:00:00 +0000\r\n" + unsignedCopy},
		{"written by another receiver", "Received: from lists.example.test (lists.example.test [192.0.2.10]) by relay.stranger.example; Sat, 06 Dec 2025 10:00:00 +0000\r\n" + unsignedCopy},
	} {
		o := w.opts()
		o.ListHosts = []string{"192.0.2.10", "lists.example.test"}
		if v := verify(t, tc.raw, o); v.Authenticated {
			t.Errorf("%s: authenticated: %q", tc.name, v.Reason)
		}
	}
}

func TestReceiverHostsMayDifferFromTheAuthservID(t *testing.T) {
	w := newWorld(t)
	raw := "Received: from mail.example.org by imap.example.org with LMTP id 1; Sat, 06 Dec 2025 10:00:02 +0000\r\n" +
		"Authentication-Results: example.org; dkim=pass header.d=lists.example.test\r\n" +
		"Received: from lists.example.test (lists.example.test [192.0.2.10]) by mail.example.org (Postfix); Sat, 06 Dec 2025 10:00:01 +0000\r\n" +
		unsignedCopy
	o := &Options{ListDomain: "lists.example.test", AuthServIDs: []string{"example.org"}, Resolver: w.dns.resolver(t, 0)}
	if v := verify(t, raw, o); v.Authenticated {
		t.Fatalf("authenticated with by-names not configured: %q", v.Reason)
	}
	o.ReceiverHosts = []string{"imap.example.org", "mail.example.org"}
	if v := verify(t, raw, o); !v.Authenticated || v.Path != PathAuthRes {
		t.Fatalf("verdict %v %q", v.Authenticated, v.Reason)
	}
}

func TestParseReceived(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Hop
	}{
		{"from lists.example.test (lists.example.test [192.0.2.10]) by mx.example.org (Postfix) with ESMTPS id 4F2; Sat, 6 Dec 2025 10:00:01 +0000",
			Hop{Helo: "lists.example.test", Host: "lists.example.test", Address: "192.0.2.10", By: "mx.example.org"}},
		{"from helo.example (unknown [IPv6:2001:db8::1]) by mx.example.org with ESMTP; date",
			Hop{Helo: "helo.example", Address: "2001:db8::1", By: "mx.example.org"}},
		{"from mx.example.org by mx.example.org with LMTP id x (envelope-from <a@b>) for <c@d>; date",
			Hop{Helo: "mx.example.org", By: "mx.example.org"}},
		{"by mx.example.org (Postfix, from userid 0) id 1; date", Hop{By: "mx.example.org"}},
		{"from [192.0.2.7] (helo=x.example) by mx.example.org with esmtp; date",
			Hop{Helo: "192.0.2.7", Address: "", By: "mx.example.org"}},
	} {
		if got := parseReceived(tc.in); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestStripComments(t *testing.T) {
	got := stripComments(`mx; dkim=pass (2048-bit key; (nested) x) header.d="a(b)"`)
	if want := `mx; dkim=pass  header.d="a(b)"`; got != want || strings.Contains(got, "nested") {
		t.Errorf("got %q, want %q", got, want)
	}
}

// rspamd puts its Authentication-Results just below the receiver's
// Received field (as captured on the testbed), where the sender's first
// field would be: trusted only when the receiver says so, and only the one
// field there.
func TestAuthenticationResultsBelowTheEntryHop(t *testing.T) {
	w := newWorld(t)
	lmtp := "Received: from mail.example.test\r\n\tby mail.example.test with LMTP\r\n\tid YJQOB8uWFWuXKQAAg+zDdQ\r\n\t(envelope-from <list-bounces@lists.example.test>)\r\n\tfor <reader@example.test>; Sun, 06 Dec 2026 17:09:31 +0000\r\n"
	entry := "Received: from lists.example.test (localhost [127.0.0.1])\r\n\tby mail.example.test (Postfix) with ESMTP id 1174EBE5EA\r\n\tfor <reader@example.test>; Sun,  6 Dec 2026 17:09:31 +0000 (UTC)\r\n"
	ar := "Authentication-Results: mail.example.test;\r\n\tdkim=pass header.d=lists.example.test header.s=list header.b=abc;\r\n\tspf=pass (mail.example.test: domain of list-bounces@lists.example.test designates 127.0.0.1 as permitted sender) smtp.mailfrom=list-bounces@lists.example.test\r\n"
	raw := lmtp + entry + ar + unsignedCopy
	o := &Options{ListDomain: "lists.example.test", AuthServIDs: []string{"mail.example.test"}, Resolver: w.dns.resolver(t, 0)}
	if v := verify(t, raw, o); v.Authenticated {
		t.Fatalf("trusted below the entry hop by default: %q", v.Reason)
	}
	o.AuthResultsBelowReceived = true
	v := verify(t, raw, o)
	if !v.Authenticated || v.Path != PathAuthRes {
		t.Fatalf("verdict %v %q", v.Authenticated, v.Reason)
	}
	wantCheck(t, "spf", v.Checks.SPF, ResultPass, "lists.example.test")
	// The second field below is the sender's.
	forged := strings.Replace(ar, "dkim=pass header.d=lists.example.test", "dkim=none", 1)
	forged = strings.Replace(forged, "spf=pass", "spf=none", 1)
	if v := verify(t, lmtp+entry+forged+ar+unsignedCopy, o); v.Authenticated {
		t.Fatalf("the second field below the entry hop was trusted: %q", v.Reason)
	}
}
