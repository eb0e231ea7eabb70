package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"

	"github.com/listprobe/listprobe/internal/testbed"
)

// Issue 15 on the real testbed: what a stranger who saw a probe's copy can
// send from another host, and what the list's own DKIM key makes of the
// list server's notices.

// forgeryList is a fresh Mailman list whose reader copy goes to
// reader+TAG@ (so that only this test's copies can be held back in
// Postfix's queue) and whose outsider subscriber plays the stranger who
// reads the probe's token in their copy. The poster does not get its own
// copy, so nothing but authentication keeps a forged notice from deciding.
func forgeryList(t *testing.T, tb testbed.Env) (l *e2eList, readerTag string) {
	t.Helper()
	testbed.NeedRoot(t)
	admin := tb.MailmanAdmin(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	address := fmt.Sprintf("e2e-forged-%s@%s", tag, tb.Get(t, "LIST_DOMAIN"))
	ctx := context.Background()
	if err := admin.CreateList(ctx, address); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.RetireList(address) })
	reader := tb.Get(t, "READER")
	readerTag = strings.Replace(reader, "@", "+forged"+tag+"@", 1)
	for _, who := range []string{tb.Get(t, "MEMBER"), tb.Get(t, "OUTSIDER"), readerTag} {
		if err := admin.Subscribe(ctx, address, who, "member"); err != nil {
			t.Fatalf("subscribe %s: %v", who, err)
		}
	}
	if err := admin.SetListConfig(ctx, address, map[string]any{"admin_immed_notify": false}); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetMemberPreferences(ctx, address, tb.Get(t, "MEMBER"), url.Values{"receive_own_postings": {"false"}}); err != nil {
		t.Fatal(err)
	}
	return &e2eList{tb: tb, address: address, admin: admin, dir: t.TempDir()}, readerTag
}

// onceAsync runs `listprobe once --output=json` on file in the background.
func onceAsync(file string) <-chan onceOutput {
	out := make(chan onceOutput, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"once", "--config.file=" + file, "--output=json", "--log.level=warn"}, &stdout, &stderr)
		out <- onceOutput{code, stdout.String(), stderr.String()}
	}()
	return out
}

type onceOutput struct {
	code           int
	stdout, stderr string
}

type forgedResult struct {
	onceResult
	Hints []struct {
		Kind, Why, Said, Contradicted string
		Used                          bool
	} `json:"hints"`
}

func parseOnce(t *testing.T, got onceOutput) forgedResult {
	t.Helper()
	var doc struct{ Results []forgedResult }
	if err := json.Unmarshal([]byte(got.stdout), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("once: exit %d, %v\nstdout: %s\nstderr: %s", got.code, err, got.stdout, got.stderr)
	}
	t.Logf("once: exit %d: %+v", got.code, doc.Results[0])
	return doc.Results[0]
}

// probeToken waits for the stranger's copy of the list's probe and reads
// its token, as anyone subscribed can.
func probeToken(t *testing.T, tb testbed.Env, list string) string {
	t.Helper()
	local, _, _ := strings.Cut(list, "@")
	raw := tb.WaitMessage(t, "OUTSIDER", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "List-Id", Value: local}}}, 150*time.Second)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	tok := h.Get("X-Listprobe-Token")
	if tok == "" {
		t.Fatalf("the stranger's copy has no token:\n%s", raw)
	}
	return tok
}

func forgedHoldNotice(list, poster, tok, msgID string) []byte {
	local, domain, _ := strings.Cut(list, "@")
	return []byte(fmt.Sprintf("From: %s-bounces@%s\r\nTo: %s\r\nSubject: Your message to %s awaits moderator approval\r\nDate: %s\r\nAuto-Submitted: auto-generated\r\nX-Mailman-Version: 3.3.8\r\nMessage-ID: %s\r\n\r\nYour mail to '%s' with the subject\r\n\r\n    listprobe delivery test %s\r\n\r\nIs being held until the list moderator can review it for approval.\r\n\r\nThe message is being held because:\r\n\r\n    The message comes from a moderated member\r\n",
		local, domain, poster, list, time.Now().Format(time.RFC1123Z), msgID, list, tok))
}

func forgedDSN(list, poster, tok, msgID string) []byte {
	_, domain, _ := strings.Cut(list, "@")
	return []byte(fmt.Sprintf("From: MAILER-DAEMON@%[1]s\r\nTo: %[2]s\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: %[6]s\r\nAuto-Submitted: auto-replied\r\nMessage-ID: %[5]s\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; %[1]s\r\n\r\nFinal-Recipient: rfc822; %[3]s\r\nAction: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 forged refusal\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: %[2]s\r\nTo: %[3]s\r\nSubject: listprobe delivery test %[4]s\r\nX-Listprobe-Token: %[4]s\r\n--b--\r\n",
		domain, poster, list, tok, msgID, time.Now().Format(time.RFC1123Z)))
}

// deleteByMessageID removes this test's own forged messages from account's
// INBOX once the test has looked at them.
func deleteByMessageID(t *testing.T, tb testbed.Env, account string, ids ...string) {
	t.Helper()
	c := tb.Mailbox(t, account)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: strings.Trim(id, "<>")}}}, nil).Wait()
		if err != nil || len(data.AllUIDs()) == 0 {
			continue
		}
		set := imap.UIDSetNum(data.AllUIDs()...)
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
			t.Error(err)
		}
		if err := c.UIDExpunge(set).Close(); err != nil {
			t.Error(err)
		}
	}
}

// A forged hold notice and a forged DSN, sent from the stranger's host
// with the list's robot addresses in From while the reader's copy waits in
// Postfix's hold queue, leave the probe delivered once the copy comes, are
// listed as hints, and are not deleted.
func TestE2EForgedNoticeAndDSNLeaveTheProbeDelivered(t *testing.T) {
	tb := testbed.LoadAuth(t)
	l, readerTag := forgeryList(t, tb)
	tb.HoldCopies(t, readerTag)
	// Generous: under the full suite's load Mailman takes over a minute.
	file := l.config(t, 240*time.Second, false, "")
	done := onceAsync(file)

	tok := probeToken(t, tb, l.address)
	tb.WaitHeldCopies(t, readerTag, 1, 150*time.Second)
	member := tb.Get(t, "MEMBER")
	stranger := "someone@" + tb.Get(t, "STRANGER_DOMAIN")
	holdID := fmt.Sprintf("<forged-hold-%d@%s>", time.Now().UnixNano(), tb.Get(t, "STRANGER_DOMAIN"))
	dsnID := fmt.Sprintf("<forged-dsn-%d@%s>", time.Now().UnixNano(), tb.Get(t, "STRANGER_DOMAIN"))
	t.Cleanup(func() { deleteByMessageID(t, tb, "MEMBER", holdID, dsnID) })
	tb.InjectForeign(t, testbed.Foreign{From: stranger, To: []string{member}}, forgedHoldNotice(l.address, member, tok, holdID))
	tb.InjectForeign(t, testbed.Foreign{From: "", To: []string{member}}, forgedDSN(l.address, member, tok, dsnID))
	box := tb.Mailbox(t, "MEMBER")
	waitUntil(t, 30*time.Second, "the forged notice and DSN in the poster's mailbox", func() bool {
		return len(imapSearch(t, box, holdID)) == 1 && len(imapSearch(t, box, dsnID)) == 1
	})
	// Time for listprobe to see and judge them: on a listprobe that
	// believes them the probe ends here, held or rejected.
	time.Sleep(3 * time.Second)
	select {
	case got := <-done:
		r := parseOnce(t, got)
		t.Fatalf("the probe ended before its copy came: %s (%s)", r.Outcome, r.Reason)
	default:
	}
	tb.ReleaseCopies(t, readerTag)
	r := parseOnce(t, <-done)
	wantE2E(t, r.onceResult, "delivered", "")
	kinds := map[string]bool{}
	for _, h := range r.Hints {
		kinds[h.Kind] = true
		if !strings.Contains(h.Why, "not authenticated") || h.Used {
			t.Errorf("hint %+v: want not authenticated, unused", h)
		}
	}
	if !kinds["hold_notice"] || !kinds["bounce"] {
		t.Errorf("hints %+v, want the forged hold notice and DSN", r.Hints)
	}
	for _, id := range []string{holdID, dsnID} {
		if n := len(imapSearch(t, box, id)); n != 1 {
			t.Errorf("forged message %s: %d left in the poster's mailbox, want 1 (never deleted)", id, n)
		}
	}
}

// withReceiver adds to a config of e2eList.config the testbed's receiving
// server as the list's list_server: rspamd's Authentication-Results (authserv-id
// mail.example.test), which it puts just below its Received field and
// removes from what comes in.
func withReceiver(t *testing.T, tb testbed.Env, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "lists:\n", fmt.Sprintf("list_servers:\n  testbed: { authserv_ids: [%s], authres_below_received: true }\nlists:\n", tb.Get(t, "AUTHSERV_ID")), 1)
	text = strings.Replace(text, "    reader: reader\n", "    reader: reader\n    list_server: testbed\n", 1)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// With the list domain's DKIM key broken in DNS, Mailman's real hold
// notice cannot be authenticated by its signature: it is a hint, the probe
// is held only at the timeout, and the result says why. With the receiving
// server's Authentication-Results trusted, its spf=pass for the list's
// domain proves the notice again.
func TestE2EBrokenDKIMKeyTurnsNoticesIntoHints(t *testing.T) {
	tb := testbed.LoadAuth(t)
	l := newE2EList(t, tb, map[string]any{"default_member_action": "hold"})
	l.listDefaultApplies(t)
	tb.SetDNSRecord(t, tb.Get(t, "DKIM_SELECTOR")+"._domainkey."+tb.Get(t, "LIST_DOMAIN"), "TXT", "v=DKIM1; k=rsa; p=MIIBroken")

	const timeout = 20 * time.Second
	file := l.config(t, timeout, false, "")
	start := time.Now()
	r := parseOnce(t, <-onceAsync(file))
	wantE2E(t, r.onceResult, "held", "unauthenticated")
	if took := time.Since(start); took < timeout {
		t.Errorf("held after %s, before the timeout of %s: a hint decided early", took, timeout)
	}
	if len(r.Hints) == 0 || !r.Hints[0].Used || !strings.Contains(r.Hints[0].Why, "DKIM signature of "+tb.Get(t, "LIST_DOMAIN")) {
		t.Errorf("hints %+v: want the hold notice, used, saying why its DKIM signature did not prove it", r.Hints)
	}

	// Mailman's notice can take a while under load: a longer timeout.
	file = l.config(t, 3*timeout, false, "")
	withReceiver(t, tb, file)
	start = time.Now()
	r = parseOnce(t, <-onceAsync(file))
	wantE2E(t, r.onceResult, "held", "moderated member")
	if strings.Contains(r.Reason, "unauthenticated") || time.Since(start) >= 3*timeout {
		t.Errorf("held after %s (%q): want the receiver's Authentication-Results to prove the notice before the timeout", time.Since(start), r.Reason)
	}
	t.Logf("time to held by the receiver's Authentication-Results (spf=pass): %s", time.Since(start).Round(10*time.Millisecond))
}

// How long a real hold takes to be found on each list manager, by each
// evidence path (README figures): the list domain's DKIM signature of the
// notice (the default), the receiver's Authentication-Results, and
// Mailman's REST held queue.
func TestE2ETimeToHeldByEvidencePath(t *testing.T) {
	tb := testbed.LoadAuth(t)
	ctx := context.Background()
	measure := func(what, file string) {
		t.Helper()
		start := time.Now()
		r := parseOnce(t, <-onceAsync(file))
		took := time.Since(start)
		if r.Outcome != "held" || strings.Contains(r.Reason, "unauthenticated") {
			t.Errorf("%s: %s (%q), want held by authenticated evidence", what, r.Outcome, r.Reason)
			return
		}
		t.Logf("time to held, %s: %s (evidence %q)", what, took.Round(10*time.Millisecond), r.Evidence)
	}
	l := newE2EList(t, tb, map[string]any{"default_member_action": "hold"})
	l.listDefaultApplies(t)
	file := l.config(t, 60*time.Second, false, "")
	measure("Mailman, DKIM", file)
	withReceiver(t, tb, file)
	measure("Mailman, Authentication-Results (DKIM first)", file)
	measure("Mailman, REST held queue", l.config(t, 60*time.Second, true, ""))

	for _, mc := range []listManagerCase{sympaCase, mlmmjCase} {
		list := mc.newList(tb, t)
		if err := mc.setModerated(tb, ctx, list, true); err != nil {
			t.Fatal(err)
		}
		measure(mc.name+", DKIM", managerConfig(t, tb, list, "MEMBER", "READER", "MODERATOR", 60*time.Second))
	}
}
