package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/textproto"

	"github.com/listprobe/listprobe/internal/testbed"
)

// Issue 15, the last member of the class: a copy of the probe forged by a
// stranger who saw it (Message-ID, From, Subject and token are in every
// subscriber's copy), sent to the reader from another host. With the
// list's receiving server named in its list_server, copies must be
// authenticated: a forged copy is a hint, never the delivery.

// outsiderCopy waits for the stranger's (the outsider subscriber's) copy
// of the list's probe and returns it as stored.
func outsiderCopy(t *testing.T, tb testbed.Env, list string) []byte {
	t.Helper()
	local, _, _ := strings.Cut(list, "@")
	return tb.WaitMessage(t, "OUTSIDER", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "List-Id", Value: local}}}, 150*time.Second)
}

// forgeCopy makes a forged copy from a genuine one: drop the named fields
// (lower case), add the given ones on top, mark it with X-Forged-Copy: id
// (a field no signature covers), and append extra to the body.
func forgeCopy(t *testing.T, genuine []byte, id string, drop []string, add [][2]string, extra string) []byte {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(genuine))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(br)
	for _, k := range drop {
		h.Del(k)
	}
	for i := len(add) - 1; i >= 0; i-- {
		h.Add(add[i][0], add[i][1])
	}
	h.Add("X-Forged-Copy", id)
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		t.Fatal(err)
	}
	b.Write(body)
	b.WriteString(extra)
	return b.Bytes()
}

// forgedCopies are the stranger's attempts, each from 127.0.0.2: the
// genuine copy with its DKIM signature kept and the body changed; the
// genuine copy without its signatures, with an Authentication-Results that
// claims the trusted receiver's dkim=pass and a Received field that names
// the list server, both below the receiver's own; a Received field that
// claims the list server on top of the rest.
func forgedCopies(t *testing.T, tb testbed.Env, genuine []byte, tag string) map[string][]byte {
	t.Helper()
	authserv, domain := tb.Get(t, "AUTHSERV_ID"), tb.Get(t, "LIST_DOMAIN")
	traces := []string{"return-path", "delivered-to", "received", "authentication-results", "x-spam-status", "x-spamd-result", "x-rspamd-queue-id", "x-rspamd-server", "x-rspamd-action"}
	now := time.Now().Format(time.RFC1123Z)
	forgedReceived := fmt.Sprintf("from mta.%s (localhost [127.0.0.1]) by %s (Postfix) with ESMTP id F0RGED for <%s>; %s", domain, authserv, tb.Get(t, "READER"), now)
	return map[string][]byte{
		"changed body": forgeCopy(t, genuine, "body-"+tag, traces, nil, "\r\nP.S. forged\r\n"),
		"no signature, fake Authentication-Results and Received": forgeCopy(t, genuine, "authres-"+tag,
			append(traces, "dkim-signature", "arc-seal", "arc-message-signature", "arc-authentication-results"),
			[][2]string{{"Authentication-Results", authserv + "; dkim=pass header.d=" + domain + "; spf=pass smtp.mailfrom=" + domain}, {"Received", forgedReceived}}, ""),
	}
}

// A forged copy injected from another host while the reader's real copy
// waits in Postfix's hold queue does not make the probe delivered and is
// left in the mailbox; released, the real copy is the delivery, with its
// own latency.
func TestE2EForgedCopyIsNotADelivery(t *testing.T) {
	tb := testbed.LoadAuth(t)
	l, readerTag := forgeryList(t, tb)
	tb.HoldCopies(t, readerTag)
	file := l.config(t, 240*time.Second, false, "")
	withReceiver(t, tb, file)
	done := onceAsync(file)

	genuine := outsiderCopy(t, tb, l.address)
	tb.WaitHeldCopies(t, readerTag, 1, 150*time.Second)
	tag := fmt.Sprint(time.Now().UnixNano())
	forged := forgedCopies(t, tb, genuine, tag)
	box := tb.Mailbox(t, "READER")
	for name, msg := range forged {
		tb.InjectForeign(t, testbed.Foreign{From: "someone@" + tb.Get(t, "STRANGER_DOMAIN"), To: []string{tb.Get(t, "READER")}}, msg)
		t.Logf("injected the forged copy with %s", name)
	}
	ids := []string{"body-" + tag, "authres-" + tag}
	t.Cleanup(func() { deleteForged(t, tb, ids) })
	waitUntil(t, 30*time.Second, "the forged copies in the reader's mailbox", func() bool {
		return len(forgedIn(t, box, ids)) == len(ids)
	})
	// Time for listprobe to see and judge them: on a listprobe that
	// counts them the probe ends here, delivered.
	time.Sleep(3 * time.Second)
	select {
	case got := <-done:
		r := parseOnce(t, got)
		t.Fatalf("the probe ended before its copy came: %s (%s)", r.Outcome, r.Reason)
	default:
	}
	held := time.Now()
	tb.ReleaseCopies(t, readerTag)
	r := parseOnce(t, <-done)
	wantE2E(t, r.onceResult, "delivered", "copy seen")
	if r.Latency == nil || *r.Latency < time.Since(held).Seconds()-240 || *r.Latency < 3 {
		t.Errorf("latency %v: want the released copy's (over 3s), not a forged one's", r.Latency)
	}
	copies := 0
	for _, h := range r.Hints {
		if h.Kind == "probe_copy" {
			copies++
			if !strings.Contains(h.Why, "not authenticated") || h.Used {
				t.Errorf("hint %+v: want not authenticated, unused", h)
			}
		}
	}
	if copies != len(ids) {
		t.Errorf("hints %+v: want the %d forged copies", r.Hints, len(ids))
	}
	if n := len(forgedIn(t, box, ids)); n != len(ids) {
		t.Errorf("%d of the %d forged copies left in the reader's mailbox: they must never be deleted", n, len(ids))
	}
}

// A post the list holds for moderation and a forged copy of it (its token
// read from the held queue, as a moderator could): the probe is held by
// Mailman's REST held queue, never delivered by the forged copy. The REST
// refresh is long, so that the forged copy comes first.
func TestE2EForgedCopyOfAHeldPostIsNotADelivery(t *testing.T) {
	tb := testbed.LoadAuth(t)
	l, _ := forgeryList(t, tb)
	ctx := context.Background()
	if err := l.admin.SetListConfig(ctx, l.address, map[string]any{"respond_to_post_requests": false}); err != nil {
		t.Fatal(err)
	}
	if err := l.admin.SetMemberModeration(ctx, l.address, tb.Get(t, "MEMBER"), "hold"); err != nil {
		t.Fatal(err)
	}
	file := l.config(t, 120*time.Second, true, "")
	withReceiver(t, tb, file)
	setRefresh(t, file, "20s")
	done := onceAsync(file)

	var subject string
	waitUntil(t, 60*time.Second, "the post in the held queue", func() bool {
		subjects, err := l.admin.HeldSubjects(ctx, l.address)
		if err == nil && len(subjects) > 0 {
			subject = subjects[0]
		}
		return subject != ""
	})
	tok := strings.TrimSpace(subject[strings.LastIndex(subject, " ")+1:])
	id := fmt.Sprintf("held-%d", time.Now().UnixNano())
	t.Cleanup(func() { deleteForged(t, tb, []string{id}) })
	member, list := tb.Get(t, "MEMBER"), l.address
	_, memberDomain, _ := strings.Cut(member, "@")
	msgID := "<" + tok + "@" + memberDomain + ">" // the probe's
	forged := []byte(fmt.Sprintf("X-Forged-Copy: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\nList-Id: <%s>\r\nX-Listprobe-Token: %s\r\n\r\nlistprobe delivery test\r\n",
		id, member, list, subject, time.Now().Format(time.RFC1123Z), msgID, strings.Replace(list, "@", ".", 1), tok))
	tb.InjectForeign(t, testbed.Foreign{From: "someone@" + tb.Get(t, "STRANGER_DOMAIN"), To: []string{tb.Get(t, "READER")}}, forged)
	r := parseOnce(t, <-done)
	wantE2E(t, r.onceResult, "held", "")
	seen := false
	for _, h := range r.Hints {
		seen = seen || h.Kind == "probe_copy"
	}
	if !seen {
		t.Errorf("hints %+v: the forged copy was not seen before the outcome (the test proves nothing then)", r.Hints)
	}
}

// setRefresh sets the Mailman REST refresh of a config of e2eList.config.
func setRefresh(t *testing.T, file, refresh string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "refresh: 1s", "refresh: "+refresh, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// forgedIn returns the UIDs of the messages in c's INBOX marked with the
// given X-Forged-Copy ids.
func forgedIn(t *testing.T, c *imapclient.Client, ids []string) []imap.UID {
	t.Helper()
	var out []imap.UID
	for _, id := range ids {
		out = append(out, testbed.Search(t, c, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Forged-Copy", Value: id}}})...)
	}
	return out
}

// deleteForged removes this test's forged copies from the reader's INBOX
// once the test has looked at them.
func deleteForged(t *testing.T, tb testbed.Env, ids []string) {
	t.Helper()
	c := tb.Mailbox(t, "READER")
	uids := forgedIn(t, c, ids)
	if len(uids) == 0 {
		return
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	set := imap.UIDSetNum(uids...)
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Error(err)
	}
	if err := c.UIDExpunge(set).Close(); err != nil {
		t.Error(err)
	}
}

// withListServer adds a list_servers block (YAML flow style) to a config
// of e2eList.config or managerConfig and names it as the list's.
func withListServer(t *testing.T, file, block string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "lists:\n", "list_servers:\n  testbed: "+block+"\nlists:\n", 1)
	text = strings.Replace(text, "    reader: reader\n", "    reader: reader\n    list_server: testbed\n", 1)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The genuine copies of each list manager on the testbed pass where copies
// must be authenticated: by the list domain's DKIM signature alone
// (copies: authenticated) and by default with the receiving server named
// (its Authentication-Results), they are delivered, not hints.
func TestE2EGenuineCopiesAreAuthenticatedOnEveryManager(t *testing.T) {
	tb := testbed.LoadAuth(t)
	for _, m := range []struct {
		name string
		file func(t *testing.T) string
	}{
		{"mailman", func(t *testing.T) string { return newE2EList(t, tb, nil).config(t, 150*time.Second, false, "") }},
		{"sympa", func(t *testing.T) string {
			return managerConfig(t, tb, tb.NewSympaList(t), "MEMBER", "READER", "", 150*time.Second)
		}},
		{"mlmmj", func(t *testing.T) string {
			return managerConfig(t, tb, tb.NewMlmmjList(t), "MEMBER", "READER", "", 150*time.Second)
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			for _, block := range []string{
				"{ copies: authenticated }",
				fmt.Sprintf("{ authserv_ids: [%s], authres_below_received: true }", tb.Get(t, "AUTHSERV_ID")),
			} {
				file := m.file(t)
				withListServer(t, file, block)
				r := parseOnce(t, <-onceAsync(file))
				wantE2E(t, r.onceResult, "delivered", "copy seen")
				if strings.Contains(r.Reason, "unauthenticated") || strings.Contains(r.Evidence, "unauthenticated") || len(r.Hints) != 0 {
					t.Errorf("list server %s: a genuine copy was not authenticated: %q, hints %+v", block, r.Reason, r.Hints)
				}
			}
		})
	}
}

// A byte-identical replay of a genuine copy (a subscriber resends the copy
// they got, its DKIM signature intact) from another host, while the
// reader's own copy waits in Postfix's queue. Its signature verifies: with
// only the receiving server named, it is the list's own content and shows
// that the list distributed this very post, so it is the delivery
// (docs/safety.md says what it can hide: a fault between the list server
// and this one reader). With the list server's host named too (127.0.0.1,
// the list servers' outgoing MTA), the receiving server's Received field
// shows it came from 127.0.0.2: a replay, a hint; the released copy is the
// delivery.
func TestE2EReplayedGenuineCopy(t *testing.T) {
	tb := testbed.LoadAuth(t)
	for _, tc := range []struct {
		name, block string
		counts      bool
	}{
		{"receiving server only: the replay counts", fmt.Sprintf("{ authserv_ids: [%s], authres_below_received: true }", tb.Get(t, "AUTHSERV_ID")), true},
		{"list server's host named: the replay is a hint", fmt.Sprintf("{ hosts: [127.0.0.1], authserv_ids: [%s], authres_below_received: true }", tb.Get(t, "AUTHSERV_ID")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, readerTag := forgeryList(t, tb)
			tb.HoldCopies(t, readerTag)
			file := l.config(t, 120*time.Second, false, "")
			withListServer(t, file, tc.block)
			done := onceAsync(file)
			genuine := outsiderCopy(t, tb, l.address)
			tb.WaitHeldCopies(t, readerTag, 1, 100*time.Second)
			tb.InjectForeign(t, testbed.Foreign{From: "someone@" + tb.Get(t, "STRANGER_DOMAIN"), To: []string{tb.Get(t, "READER")}}, genuine)
			if !tc.counts {
				time.Sleep(4 * time.Second)
				tb.ReleaseCopies(t, readerTag)
			}
			r := parseOnce(t, <-done)
			wantE2E(t, r.onceResult, "delivered", "copy seen")
			if held := len(tb.HeldCopies(t, readerTag)) > 0; held != tc.counts {
				t.Errorf("the reader's own copy held at the end: %t; want %t", held, tc.counts)
			}
			replay := false
			for _, h := range r.Hints {
				replay = replay || h.Kind == "probe_copy" && strings.Contains(h.Why, "[127.0.0.2], not from the list server: a replay")
			}
			if replay == tc.counts {
				t.Errorf("hints %+v: want a replay hint %t", r.Hints, !tc.counts)
			}
		})
	}
}
