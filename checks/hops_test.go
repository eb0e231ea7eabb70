package checks

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

func headerWithReceived(t *testing.T, received ...string) mail.Header {
	t.Helper()
	var raw strings.Builder
	for _, r := range received {
		raw.WriteString("Received: " + r + "\r\n")
	}
	raw.WriteString("From: probe@example.org\r\nSubject: x\r\n\r\n")
	h, _ := splitEvidenceFixture(t, []byte(raw.String()))
	return h
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestHopsOfATestbedCopy: the real Mailman 3.3.8 copy captured on the
// testbed went through Postfix submission, Postfix (from Mailman) and
// Dovecot LMTP: three hops, oldest first.
func TestHopsOfATestbedCopy(t *testing.T) {
	header, _ := fixture(t, "probe_copy-mailman3-real-list-copy.eml")
	got := Hops(header())
	want := []Hop{
		{By: "mail.example.test", With: "ESMTPA", At: utc("2026-11-25T16:00:54Z")},
		{By: "mail.example.test", With: "ESMTP", At: utc("2026-11-25T16:00:54Z")},
		{By: "mail.example.test", With: "LMTP", At: utc("2026-11-25T16:00:54Z")},
	}
	checkHops(t, got, want)
}

func checkHops(t *testing.T, got, want []Hop) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Hops = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].By != want[i].By || got[i].With != want[i].With || !got[i].At.Equal(want[i].At) {
			t.Errorf("hop %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestHopsOfRealLookingChains(t *testing.T) {
	for _, tc := range []struct {
		name     string
		received []string // as in the header, newest first
		want     []Hop
	}{
		{
			name: "Postfix, Mailman, Postfix, Dovecot LMTP",
			received: []string{
				"from mail.example.org\r\n\tby mail.example.org with LMTP\r\n\tid 6Hc2BvbyU2Wq5AAAg+zDdQ\r\n\t(envelope-from <test-bounces@lists.example.org>)\r\n\tfor <reader@example.org>; Tue, 14 Nov 2023 22:13:22 +0000",
				"from lists.example.org (localhost [127.0.0.1])\r\n\tby mail.example.org (Postfix) with ESMTP id 4SVb2c0xyz\r\n\tfor <reader@example.org>; Tue, 14 Nov 2023 22:13:21 +0000 (UTC)",
				"from mail.example.org (localhost [127.0.0.1])\r\n\tby lists.example.org (Postfix) with LMTP id 4SVb2b7def;\r\n\tTue, 14 Nov 2023 23:13:20 +0100 (CET)",
				"from [127.0.0.1] (localhost [127.0.0.1])\r\n\tby mail.example.org (Postfix) with ESMTPSA id 4SVb2b6abc\r\n\tfor <test@lists.example.org>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)",
			},
			want: []Hop{
				{By: "mail.example.org", With: "ESMTPSA", At: utc("2023-11-14T22:13:20Z")},
				{By: "lists.example.org", With: "LMTP", At: utc("2023-11-14T22:13:20Z")},
				{By: "mail.example.org", With: "ESMTP", At: utc("2023-11-14T22:13:21Z")},
				{By: "mail.example.org", With: "LMTP", At: utc("2023-11-14T22:13:22Z")},
			},
		},
		{
			name: "Exim with comments and TLS details",
			received: []string{
				"from mx.example.org ([192.0.2.10] helo=mx.example.org)\r\n\tby mail.example.net with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\r\n\t(Exim 4.96)\r\n\t(envelope-from <test-bounces@lists.example.org>)\r\n\tid 1r32Xq-000Abc-2Z\r\n\tfor reader@example.net;\r\n\tTue, 14 Nov 2023 22:13:23 +0000",
				"from [192.0.2.1] (port=51234 helo=[127.0.0.1])\r\n\tby mx.example.org with esmtpsa (TLS1.3) (Exim 4.96)\r\n\t(envelope-from <probe@example.org>) id 1r32Xp-0009zz-1Y; Tue, 14 Nov 2023 22:13:20 -0000",
			},
			want: []Hop{
				{By: "mx.example.org", With: "esmtpsa", At: utc("2023-11-14T22:13:20Z")},
				{By: "mail.example.net", With: "esmtps", At: utc("2023-11-14T22:13:23Z")},
			},
		},
		{
			name: "qmail and odd fields",
			received: []string{
				"(qmail 12340 invoked by uid 89); 14 Nov 2023 22:13:21 -0000",
				"from localhost by box.example.org with SMTP; no date here",
				"by relay.example.org; Tue, 14 Nov 2023 99:99:99 +0000",
				"from x (by with (nested (comment))) by inner.example.org with HTTP; Tue, 14 Nov 23 22:13:19 +0000",
			},
			want: []Hop{
				{By: "inner.example.org", With: "HTTP", At: utc("2023-11-14T22:13:19Z")},
				{By: "relay.example.org"},
				{By: "box.example.org", With: "SMTP"},
				{At: utc("2023-11-14T22:13:21Z")},
			},
		},
		{
			name:     "8-bit bytes",
			received: []string{"from h\xe4st by m\xe4il.example.org with ESMTP; Tue, 14 Nov 2023 22:13:21 +0000"},
			want:     []Hop{{By: "mäil.example.org", With: "ESMTP", At: utc("2023-11-14T22:13:21Z")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Hops(headerWithReceived(t, tc.received...))
			checkHops(t, got, tc.want)
			for _, h := range got {
				checkReadable(t, h.By)
				checkReadable(t, h.With)
			}
		})
	}
}

// TestHopsBounded: hundreds of Received fields, or one huge one, give at
// most maxHops hops, the newest ones.
func TestHopsBounded(t *testing.T) {
	var received []string
	for i := 499; i >= 0; i-- {
		received = append(received, fmt.Sprintf("from a by hop%d.example.org with SMTP; Tue, 14 Nov 2023 22:%02d:%02d +0000", i, i/60%60, i%60))
	}
	got := Hops(headerWithReceived(t, received...))
	if len(got) != maxHops {
		t.Fatalf("%d hops, want %d", len(got), maxHops)
	}
	if got[len(got)-1].By != "hop499.example.org" || got[0].By != fmt.Sprintf("hop%d.example.org", 500-maxHops) {
		t.Errorf("kept %s .. %s, want the newest", got[0].By, got[len(got)-1].By)
	}
	huge := "from a by big.example.org with ESMTP id " + strings.Repeat("x", 1<<20) + "; Tue, 14 Nov 2023 22:13:21 +0000"
	got = Hops(headerWithReceived(t, huge))
	if len(got) != 1 || got[0].By != "big.example.org" || !got[0].At.Equal(utc("2023-11-14T22:13:21Z")) {
		t.Errorf("huge field: %+v", got)
	}
}

func TestApproval(t *testing.T) {
	header, body := fixture(t, "probe_copy-mailman3-approved-by-moderator.eml")
	ev := Classify(header(), body)
	if !ev.Approved || !ev.ApprovedAt.Equal(utc("2023-11-14T22:15:05Z")) {
		t.Errorf("Mailman approval: %v at %v", ev.Approved, ev.ApprovedAt)
	}
	for _, tc := range []struct {
		field, value string
		want         bool
		at           time.Time
	}{
		{"X-Mailman-Approved-At", "Tue, 14 Nov 2023 22:15:05 -0000", true, utc("2023-11-14T22:15:05Z")},
		{"X-Mailman-Approved-At", "garbage", true, time.Time{}},
		{"X-Validation-By", "moderator@example.org", true, time.Time{}},
		{"X-Unrelated", "x", false, time.Time{}},
	} {
		h, body := header(), body
		h.Del("X-Mailman-Approved-At")
		h.Set(tc.field, tc.value)
		ev := Classify(h, body)
		if ev.Approved != tc.want || !ev.ApprovedAt.Equal(tc.at) {
			t.Errorf("%s: %s: approved %v at %v, want %v at %v", tc.field, tc.value, ev.Approved, ev.ApprovedAt, tc.want, tc.at)
		}
	}
	// Approval marks only copies: a person's mail that carries the field
	// is unrelated and says nothing.
	h := header()
	h.Set("From", "alice@example.org")
	h.Set("Message-Id", "<alice-1@example.org>")
	if ev := Classify(h, body); ev.Approved {
		t.Errorf("unrelated mail approved: %+v", ev)
	}
}
