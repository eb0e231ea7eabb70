package imapwatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/testbed"
)

// The tests in this file fill folders of the testbed's outsider account
// (never an INBOX others read), named listprobe-cost-<random>, and delete
// them when they end.

// testbedFolder creates a folder of the outsider account holding n
// messages, appended with pipelined APPENDs, and deletes it when the test
// ends. It returns the admin client, logged in.
func testbedFolder(t *testing.T, env testbed.Env, n int) (*imapclient.Client, string) {
	t.Helper()
	c, err := imapclient.DialInsecure(env.Get(t, "IMAP"), nil)
	if err != nil {
		t.Fatalf("testbed IMAP: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(env.Get(t, "OUTSIDER"), env.Secret(t, "OUTSIDER_PASSWORD_FILE")).Wait(); err != nil {
		t.Fatalf("testbed IMAP login as the outsider: %v", err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	folder := fmt.Sprintf("listprobe-cost-%s-%d", hex.EncodeToString(rnd[:]), n)
	if err := c.Create(folder, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", folder, err)
	}
	t.Cleanup(func() {
		if err := c.Delete(folder).Wait(); err != nil {
			t.Errorf("delete folder %s: %v", folder, err)
		}
	})
	// APPENDs cost Dovecot an fsync each (16 ms here: five minutes for
	// 20,000), so a hundred messages are appended and then copied within
	// the folder, doubling each time: Dovecot copies by hard links.
	const pipeline = 100
	var pending []*imapclient.AppendCommand
	for i := range min(n, pipeline) {
		msg := fmt.Sprintf("From: alice@example.test\r\nTo: probe-test@lists.example.test\r\n"+
			"Subject: old list traffic %06d\r\nMessage-ID: <old-%06d-%s@example.test>\r\n"+
			"List-Id: <probe-test.lists.example.test>\r\n\r\nAn old post of the list.\r\n", i, i, hex.EncodeToString(rnd[:]))
		cmd := c.Append(folder, int64(len(msg)), nil)
		if _, err := cmd.Write([]byte(msg)); err != nil {
			t.Fatalf("append to %s: %v", folder, err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatalf("append to %s: %v", folder, err)
		}
		pending = append(pending, cmd)
	}
	for _, cmd := range pending {
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("append to %s: %v", folder, err)
		}
	}
	if n <= pipeline {
		return c, folder
	}
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatalf("select %s: %v", folder, err)
	}
	for have := pipeline; have < n; {
		more := min(have, n-have)
		if _, err := c.Copy(imap.SeqSet{{Start: 1, Stop: uint32(more)}}, folder).Wait(); err != nil {
			t.Fatalf("copy within %s: %v", folder, err)
		}
		have += more
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil || sel.NumMessages != uint32(n) {
		t.Fatalf("%s holds %v messages (%v), want %d", folder, sel, err, n)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	return c, folder
}

// appendTo appends msg to folder and returns when the server has it.
func appendTo(t *testing.T, c *imapclient.Client, folder, msg string) {
	t.Helper()
	cmd := c.Append(folder, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
}

// testbedWatch runs a Mailbox on a folder of the outsider's, in clear text
// on loopback so that traffic counts the IMAP bytes themselves, until the
// returned stop is called.
func testbedWatch(t *testing.T, env testbed.Env, folder string, traffic *lineCounter, wantBody func(mail.Header) bool) (*Mailbox, <-chan Message, func()) {
	t.Helper()
	up := make(chan error, 100)
	m := New(Options{
		HeaderFields: checks.ClassifyHeaderFields,
		Address:      env.Get(t, "IMAP"),
		TLS:          mailtls.None,
		Username:     env.Get(t, "OUTSIDER"),
		Password:     env.Secret(t, "OUTSIDER_PASSWORD_FILE"),
		Mailbox:      folder,
		WantBody:     wantBody,
		DialContext:  traffic.dial,
		OnState:      reportUp(up),
	})
	msgs, unsubscribe := m.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done; unsubscribe() }
	select {
	case err := <-up:
		if err != nil {
			stop()
			t.Fatalf("mailbox session on %s: %v", folder, err)
		}
	case <-time.After(time.Minute):
		stop()
		t.Fatalf("mailbox session on %s never came up", folder)
	}
	return m, msgs, stop
}

// waitMessage reads msgs until the message with this Message-ID.
func waitMessage(t *testing.T, msgs <-chan Message, id string) Message {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case msg := <-msgs:
			if msg.Header.Get("Message-Id") == id {
				return msg
			}
		case <-timeout:
			t.Fatalf("%s never reported", id)
		}
	}
}

// One probe's IMAP traffic in the reader session does not grow with the
// mailbox: a session that starts, expects the copy, sees it arrive, and
// deletes it, into a folder of 100 messages and one of 20,000. The larger
// may cost at most 20 % more, in each direction (issue 9 §3).
func TestMailboxTestbedProbeCostDoesNotGrowWithTheMailbox(t *testing.T) {
	env := testbed.Load(t)
	var rnd [8]byte
	rand.Read(rnd[:])
	tok := hex.EncodeToString(rnd[:]) // the same size for both runs

	measure := func(n int) (in, out int64) {
		start := time.Now()
		admin, folder := testbedFolder(t, env, n)
		t.Logf("filled %s with %d messages in %v", folder, n, time.Since(start).Round(time.Millisecond))
		var traffic lineCounter
		m, msgs, stop := testbedWatch(t, env, folder, &traffic, checks.LooksLikeNotice)
		defer stop()

		id := "<cost-" + tok + "@example.test>"
		done := m.Expect(time.Now().Add(time.Minute))
		appendTo(t, admin, folder, "From: member@example.test\r\nTo: probe-test@lists.example.test\r\n"+
			"Subject: "+compose.SubjectPrefix+" "+tok+"\r\nMessage-ID: "+id+"\r\n"+token.Header+": "+tok+"\r\n"+
			"List-Id: <probe-test.lists.example.test>\r\nX-Mailman-Version: 3.3.8\r\n\r\nA probe.\r\n")
		msg := waitMessage(t, msgs, id)
		done()
		if msg.Body != nil {
			t.Errorf("fetched the body of the probe's copy")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Delete(ctx, msg.UIDValidity, msg.UID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		stop()
		return traffic.read.Load(), traffic.written.Load()
	}
	in100, out100 := measure(100)
	in20k, out20k := measure(20000)
	t.Logf("one probe's reader session: 100 messages: %d bytes in, %d out; 20,000 messages: %d in, %d out", in100, out100, in20k, out20k)
	if in20k*100 > in100*120 || out20k*100 > out100*120 {
		t.Errorf("the probe cost more than 20 %% more in a mailbox of 20,000 messages: in %d vs %d, out %d vs %d", in20k, in100, out20k, out100)
	}
}

// Other mail arriving in the watched mailbox costs one bounded fetch of the
// header fields each, and a body fetch only when WantBody asks for one: a
// personal message and a huge one never cost their body.
func TestMailboxTestbedOtherMailCostsABoundedHeaderFetch(t *testing.T) {
	env := testbed.Load(t)
	admin, folder := testbedFolder(t, env, 0)
	var traffic lineCounter
	_, msgs, stop := testbedWatch(t, env, folder, &traffic, checks.LooksLikeNotice)
	defer stop()

	var rnd [6]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	body := strings.Repeat("A line of a long message, which nobody needs to read here.\r\n", 4000) // 240 KB
	arrive := func(t *testing.T, name, fields string) Message {
		t.Helper()
		before := traffic.read.Load()
		id := "<other-" + name + "-" + tag + "@example.test>"
		appendTo(t, admin, folder, "Message-ID: "+id+"\r\n"+fields+"\r\n"+body)
		got := waitMessage(t, msgs, id)
		read := traffic.read.Load() - before
		t.Logf("%s: %d bytes read, header truncated %v, body fetched %v", name, read, got.HeaderTruncated, got.Body != nil)
		if limit := int64(defaultHeaderLimit + 4<<10); read > limit && got.Body == nil {
			t.Errorf("%s: read %d bytes, over the header limit and a few kilobytes of responses", name, read)
		}
		if limit := int64(defaultHeaderLimit + defaultBodyLimit + 8<<10); read > limit {
			t.Errorf("%s: read %d bytes, over the header and body limits", name, read)
		}
		return got
	}

	for _, tc := range []struct{ name, fields string }{
		{"personal", "From: alice@example.test\r\nTo: outsider@example.test\r\nSubject: lunch\r\n"},
		{"huge subject", "From: bob@example.test\r\nTo: outsider@example.test\r\nSubject: " + strings.Repeat("very long subject ", 30000) + "\r\n"},
	} {
		if got := arrive(t, tc.name, tc.fields); got.Body != nil {
			t.Errorf("%s: fetched its body", tc.name)
		}
	}
	t.Run("ordinary list post", func(t *testing.T) {
		got := arrive(t, "list-post", "From: alice@example.test\r\nTo: probe-test@lists.example.test\r\n"+
			"Subject: [Probe-test] meeting notes\r\nList-Id: <probe-test.lists.example.test>\r\n"+
			"List-Post: <mailto:probe-test@lists.example.test>\r\nPrecedence: list\r\nX-Mailman-Version: 3.3.8\r\n")
		if got.Body != nil {
			t.Error("fetched the body of an ordinary list post")
		}
	})
}

// A read-only watcher on Dovecot leaves \Recent and \Seen to the mailbox's
// owner: a human moderator who opens the mailbox afterwards still sees both
// messages as recent and unread, what a read-write SELECT by the watcher
// would have taken from them. And Delete refuses.
func TestMailboxTestbedReadOnlyLeavesRecentAndSeen(t *testing.T) {
	env := testbed.Load(t)
	admin, folder := testbedFolder(t, env, 0)
	var rnd [6]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	appendTo(t, admin, folder, "From: alice@example.test\r\nSubject: for the moderator\r\nMessage-ID: <human-"+tag+"@example.test>\r\n\r\nHello.\r\n")

	var traffic lineCounter
	up := make(chan error, 100)
	m := New(Options{
		HeaderFields: checks.ClassifyHeaderFields,
		Address:      env.Get(t, "IMAP"),
		TLS:          mailtls.None,
		Username:     env.Get(t, "OUTSIDER"),
		Password:     env.Secret(t, "OUTSIDER_PASSWORD_FILE"),
		Mailbox:      folder,
		ReadOnly:     true,
		WantBody:     func(mail.Header) bool { return true },
		DialContext:  traffic.dial,
		OnState:      reportUp(up),
	})
	msgs, unsubscribe := m.Subscribe()
	defer unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	if err := <-up; err != nil {
		t.Fatalf("read-only session: %v", err)
	}
	id := "<notice-" + tag + "@example.test>"
	appendTo(t, admin, folder, "From: probe-test-owner@lists.example.test\r\nSubject: a notice\r\nMessage-ID: "+id+"\r\n\r\nYour post awaits approval.\r\n")
	notice := waitMessage(t, msgs, id)
	if string(notice.Body) != "Your post awaits approval.\r\n" {
		t.Errorf("body %q", notice.Body)
	}
	if err := m.Delete(ctx, notice.UIDValidity, notice.UID); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Delete in a read-only mailbox: %v, want a refusal", err)
	}
	stop()
	<-done

	// The moderator opens the folder read-write.
	if _, err := admin.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	bufs, err := admin.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 2 {
		t.Fatalf("%d messages in %s, want 2", len(bufs), folder)
	}
	for _, b := range bufs {
		if !slices.Contains(b.Flags, imap.Flag(`\Recent`)) || slices.Contains(b.Flags, imap.FlagSeen) {
			t.Errorf("UID %d has flags %v: want \\Recent and no \\Seen", b.UID, b.Flags)
		}
	}
}
