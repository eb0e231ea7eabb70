package sandbox

import (
	"bytes"
	"errors"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

func TestHealthyListDeliversMailmanCopyToSubscriber(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	subject := "listprobe delivery test lp1.test.token"
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, subject, "<lp1.test.token@example.org>"))

	msgs := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	if len(msgs) != 1 {
		t.Fatalf("reader has %d messages, want 1", len(msgs))
	}
	h := msgs[0].header(t)
	checks := map[string]string{
		"Subject":           "[Healthy] " + subject,
		"List-Id":           "<healthy.lists.example.org>",
		"List-Post":         "<mailto:healthy@lists.example.org>",
		"List-Unsubscribe":  "<mailto:healthy-leave@lists.example.org>",
		"List-Help":         "<mailto:healthy-request@lists.example.org?subject=help>",
		"Precedence":        "list",
		"X-Mailman-Version": "3.3.8",
		"Message-ID":        "<lp1.test.token@example.org>",
		"X-Listprobe-Token": "lp1.test.token",
		"From":              DemoMember,
		"To":                DemoHealthy,
		"Return-Path":       "<healthy-bounces@lists.example.org>",
		"X-MailFrom":        DemoMember,
		"Message-ID-Hash":   messageIDHash("<lp1.test.token@example.org>"),
	}
	for k, want := range checks {
		if got := strings.Join(strings.Fields(h.Get(k)), " "); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if n := len(h["Received"]); n != 2 {
		t.Errorf("%d Received fields, want 2 (submission, list server to MTA)", n)
	}
	body := msgs[0].body(t)
	wantBody := "This is an automated delivery test.\r\nIt is safe to discard.\r\n" +
		"_______________________________________________\r\n" +
		"Healthy mailing list -- healthy@lists.example.org\r\n" +
		"To unsubscribe send an email to healthy-leave@lists.example.org\r\n"
	if body != wantBody {
		t.Errorf("body:\n%q\nwant:\n%q", body, wantBody)
	}
	if len(msgs[0].Flags) != 0 {
		t.Errorf("new copy has flags %v, want none", msgs[0].Flags)
	}
	// The poster gets nothing back from a list that delivers.
	drainSandboxQueue(t, w)
	if got := waitInbox(t, w, DemoMember, DemoMemberPassword, 0); len(got) != 0 {
		t.Errorf("member has %d messages, want 0", len(got))
	}
}

func TestModeratedListHoldsPostAndNotifiesPosterLikeMailman3(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	subject := "listprobe delivery test lp1.held.token"
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, subject, "<lp1.held.token@example.org>"))

	msgs := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)
	h := msgs[0].header(t)
	checks := map[string]string{
		"Subject":           "Your message to moderated@lists.example.org awaits moderator approval",
		"From":              "moderated-bounces@lists.example.org",
		"To":                DemoMember,
		"Precedence":        "bulk",
		"X-Mailman-Version": "3.3.8",
		"List-Id":           "<moderated.lists.example.org>",
		"List-Owner":        "<mailto:moderated-owner@lists.example.org>",
		"Content-Type":      `text/plain; charset="us-ascii"`,
		"Return-Path":       "<moderated-bounces@lists.example.org>",
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if h.Get("List-Post") != "" {
		t.Errorf("hold notice has List-Post %q; Mailman's notices carry reduced list headers", h.Get("List-Post"))
	}
	wantBody := strings.ReplaceAll(`Your mail to 'moderated@lists.example.org' with the subject

    listprobe delivery test lp1.held.token

Is being held until the list moderator can review it for approval.

The message is being held because:

    The message comes from a moderated member

Either the message will get posted to the list, or you will receive
notification of the moderator's decision.
`, "\n", "\r\n")
	if got := msgs[0].body(t); got != wantBody {
		t.Errorf("notice body:\n%s\nwant:\n%s", got, wantBody)
	}

	held := w.Held(DemoModerated)
	if len(held) != 1 {
		t.Fatalf("Held = %d posts, want 1", len(held))
	}
	want := HeldMessage{RequestID: 1, MessageID: "<lp1.held.token@example.org>", Sender: DemoMember, Subject: subject, Reason: DefaultHoldReason}
	got := held[0]
	if got.RequestID != want.RequestID || got.MessageID != want.MessageID || got.Sender != want.Sender || got.Subject != want.Subject || got.Reason != want.Reason {
		t.Errorf("Held[0] = %+v, want %+v", got, want)
	}
	if !bytes.Contains(got.Raw, []byte("X-Mailman-Rule-Hits: member-moderation\r\n")) {
		t.Errorf("held message lacks the rule hits header:\n%s", got.Raw)
	}
	drainSandboxQueue(t, w)
	if n := len(waitInbox(t, w, DemoReader, DemoReaderPassword, 0)); n != 0 {
		t.Errorf("reader has %d messages, want 0", n)
	}
	if !w.DiscardHeld(DemoModerated, 1) || len(w.Held(DemoModerated)) != 0 {
		t.Errorf("DiscardHeld did not remove request 1")
	}
}

func TestHoldReasonIsConfigurable(t *testing.T) {
	opts := DemoOptions()
	opts.Lists[1].HoldReason = "Message has implicit destination"
	w := startSandboxWorld(t, opts)
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, "hello", "<a@example.org>"))
	msgs := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)
	if body := msgs[0].body(t); !strings.Contains(body, "\r\n    Message has implicit destination\r\n") {
		t.Errorf("notice does not give the configured reason:\n%s", body)
	}
	if r := w.Held(DemoModerated)[0].Reason; r != "Message has implicit destination" {
		t.Errorf("Held reason %q", r)
	}
}

func TestHoldSendsNoNoticeForBulkPost(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	bulk := bytes.Replace(sandboxPost(DemoMember, DemoModerated, "bulk post", "<bulk@example.org>"),
		[]byte("MIME-Version"), []byte("Precedence: bulk\r\nMIME-Version"), 1)
	mustSubmitAsMember(t, w, DemoModerated, bulk)
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, "plain post", "<plain@example.org>"))
	drainSandboxQueue(t, w)
	msgs := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)
	if len(msgs) != 1 {
		t.Fatalf("member has %d notices, want 1 (none for the Precedence: bulk post)", len(msgs))
	}
	if !strings.Contains(msgs[0].body(t), "    plain post\r\n") {
		t.Errorf("the notice is not for the plain post:\n%s", msgs[0].body(t))
	}
	if n := len(w.Held(DemoModerated)); n != 2 {
		t.Errorf("Held = %d, want 2: the bulk post is held all the same", n)
	}
}

func TestAutoresponseLimitEndsWithLastNoticeForToday(t *testing.T) {
	opts := DemoOptions()
	opts.MaxAutoresponsesPerDay = 1
	w := startSandboxWorld(t, opts)
	for _, id := range []string{"<1@example.org>", "<2@example.org>", "<3@example.org>", "<4@example.org>"} {
		mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, "post "+id, id))
	}
	drainSandboxQueue(t, w)
	if n := len(w.Held(DemoModerated)); n != 4 {
		t.Fatalf("%d posts held, want 4", n)
	}
	msgs := waitInbox(t, w, DemoMember, DemoMemberPassword, 2)
	if len(msgs) != 2 {
		t.Fatalf("member has %d messages, want 2 (one notice, then the last-for-today warning)", len(msgs))
	}
	if s := msgs[0].header(t).Get("Subject"); !strings.HasSuffix(s, "awaits moderator approval") {
		t.Errorf("first message %q, want a hold notice", s)
	}
	h := msgs[1].header(t)
	if s := h.Get("Subject"); s != "Last autoresponse notification for today" {
		t.Errorf("second message %q, want the last autoresponse notification", s)
	}
	if f := h.Get("From"); f != "moderated-owner@lists.example.org" {
		t.Errorf("warning From %q", f)
	}
	wantBody := strings.ReplaceAll(`We have received a message from your address <member@example.org>
requesting an automated response from the moderated@lists.example.org
mailing list.

The number we have seen today: 1.  In order to avoid problems such as
mail loops between email robots, we will not be sending you any
further responses today.  Please try again tomorrow.

If you believe this message is in error, or if you have any questions,
please contact the list owner at moderated-owner@lists.example.org.
`, "\n", "\r\n")
	if got := msgs[1].body(t); got != wantBody {
		t.Errorf("warning body:\n%s\nwant:\n%s", got, wantBody)
	}
}

func TestClosedListRejectsWithMailman3NoticeAndOriginalAttached(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	subject := "listprobe delivery test lp1.rejected.token"
	mustSubmitAsMember(t, w, DemoClosed, sandboxPost(DemoMember, DemoClosed, subject, "<lp1.rejected.token@example.org>"))

	msgs := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)
	h := msgs[0].header(t)
	if got := h.Get("Subject"); got != subject {
		t.Errorf("Subject %q, want the original subject %q", got, subject)
	}
	if got := h.Get("From"); got != "closed-owner@lists.example.org" {
		t.Errorf("From %q", got)
	}
	if got := h.Get("Precedence"); got != "bulk" {
		t.Errorf("Precedence %q", got)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(strings.NewReader(msgs[0].body(t)), params["boundary"])
	p1, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	text.ReadFrom(p1)
	wantText := strings.ReplaceAll(`Your message to the Closed mailing-list was rejected for the following
reasons:

The message comes from a moderated member

The original message as received by Mailman is attached.
`, "\n", "\r\n")
	if text.String() != wantText {
		t.Errorf("rejection text:\n%q\nwant:\n%q", text.String(), wantText)
	}
	p2, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := p2.Header.Get("Content-Type"); ct != "message/rfc822" {
		t.Errorf("second part %q, want message/rfc822", ct)
	}
	orig, err := mail.ReadMessage(p2)
	if err != nil {
		t.Fatal(err)
	}
	if id := orig.Header.Get("Message-ID"); id != "<lp1.rejected.token@example.org>" {
		t.Errorf("attached Message-ID %q", id)
	}
	if tok := orig.Header.Get("X-Listprobe-Token"); tok != "lp1.test.token" {
		t.Errorf("attached token %q", tok)
	}
	drainSandboxQueue(t, w)
	if n := len(waitInbox(t, w, DemoReader, DemoReaderPassword, 0)); n != 0 {
		t.Errorf("reader has %d messages, want 0", n)
	}
}

func TestBlackholeDropsWithoutTrace(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mustSubmitAsMember(t, w, DemoBlackhole, sandboxPost(DemoMember, DemoBlackhole, "into the void", "<void@example.org>"))
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "marker", "<marker@example.org>"))
	drainSandboxQueue(t, w)
	msgs := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	if len(msgs) != 1 || msgs[0].header(t).Get("Message-ID") != "<marker@example.org>" {
		t.Fatalf("reader has %d messages, want only the marker copy", len(msgs))
	}
	if n := len(waitInbox(t, w, DemoMember, DemoMemberPassword, 0)); n != 0 {
		t.Errorf("member has %d messages, want 0", n)
	}
	if n := len(w.Held(DemoBlackhole)); n != 0 {
		t.Errorf("blackhole holds %d posts", n)
	}
}

func TestSlowListDeliversAfterLaterPostToHealthyList(t *testing.T) {
	opts := DemoOptions()
	opts.Lists[2].Delay = 500 * time.Millisecond
	w := startSandboxWorld(t, opts)
	mustSubmitAsMember(t, w, DemoSlow, sandboxPost(DemoMember, DemoSlow, "slow one", "<slow@example.org>"))
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "fast one", "<fast@example.org>"))
	msgs := waitInbox(t, w, DemoReader, DemoReaderPassword, 2)
	got := []string{msgs[0].header(t).Get("Message-ID"), msgs[1].header(t).Get("Message-ID")}
	if got[0] != "<fast@example.org>" || got[1] != "<slow@example.org>" {
		t.Fatalf("delivery order %v, want the healthy copy before the delayed one", got)
	}
	if s := msgs[1].header(t).Get("Subject"); s != "[Slow] slow one" {
		t.Errorf("delayed copy Subject %q", s)
	}
}

func TestSetPolicySwitchesHoldToDeliver(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, "first", "<first@example.org>"))
	waitInbox(t, w, DemoMember, DemoMemberPassword, 1)

	w.SetPolicy(DemoModerated, Deliver)
	if p := w.Policy(DemoModerated); p != Deliver {
		t.Fatalf("Policy = %q after SetPolicy(Deliver)", p)
	}
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, "second", "<second@example.org>"))
	msgs := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	drainSandboxQueue(t, w)
	if s := msgs[0].header(t).Get("Subject"); s != "[Moderated] second" {
		t.Errorf("copy Subject %q, want [Moderated] second", s)
	}
	if n := len(w.Held(DemoModerated)); n != 1 {
		t.Errorf("Held = %d, want 1 (only the first post)", n)
	}
	if n := len(waitInbox(t, w, DemoMember, DemoMemberPassword, 1)); n != 1 {
		t.Errorf("member has %d notices, want 1", n)
	}
	w.SetPolicy("nosuchlist@lists.example.org", Hold) // ignored, no panic
	w.SetPolicy(DemoModerated, Policy("bogus"))
	if p := w.Policy(DemoModerated); p != Deliver {
		t.Errorf("an invalid SetPolicy changed the policy to %q", p)
	}
}

func TestSubmitWithoutAuthIsRefused(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	err := sandboxSubmit(t, w, "", "", DemoMember, []string{DemoHealthy}, sandboxPost(DemoMember, DemoHealthy, "x", "<x@example.org>"))
	wantSMTPCode(t, err, 530, smtp.EnhancedCode{5, 7, 0})

	err = sandboxSubmit(t, w, DemoMember, "wrong password", DemoMember, []string{DemoHealthy}, nil)
	wantSMTPCode(t, err, 535, smtp.EnhancedCode{5, 7, 8})

	err = sandboxSubmit(t, w, "stranger@example.org", "x", "stranger@example.org", []string{DemoHealthy}, nil)
	wantSMTPCode(t, err, 535, smtp.EnhancedCode{5, 7, 8})
}

func TestUnknownRecipientIsRefusedPermanently(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	err := sandboxSubmit(t, w, DemoMember, DemoMemberPassword, DemoMember, []string{"nobody@lists.example.org"}, sandboxPost(DemoMember, "nobody@lists.example.org", "x", "<x@example.org>"))
	wantSMTPCode(t, err, 550, smtp.EnhancedCode{5, 1, 1})
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Temporary() {
		t.Errorf("550 reported as temporary")
	}
}

func TestMailToAccountGoesToItsInbox(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	raw := sandboxPost(DemoMember, DemoReader, "direct", "<direct@example.org>")
	mustSubmitAsMember(t, w, DemoReader, raw)
	msgs := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	h := msgs[0].header(t)
	if h.Get("Subject") != "direct" || h.Get("Return-Path") != "<"+DemoMember+">" || h.Get("List-Id") != "" {
		t.Errorf("direct mail altered: Subject %q Return-Path %q List-Id %q", h.Get("Subject"), h.Get("Return-Path"), h.Get("List-Id"))
	}
	if !bytes.HasSuffix(msgs[0].Raw, raw[bytes.Index(raw, []byte("\r\n\r\n")):]) {
		t.Errorf("direct mail body altered")
	}
}

func TestNoIdleServerHasNoIdleAndPollingWorks(t *testing.T) {
	opts := DemoOptions()
	opts.NoIdle = true
	w := startSandboxWorld(t, opts)
	c := sandboxIMAPLogin(t, w.IMAPAddr, DemoReader, DemoReaderPassword, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2) {
		t.Errorf("capabilities %v announce IDLE", caps)
	}
	if !caps.Has(imap.CapUIDPlus) || !caps.Has(imap.CapMove) {
		t.Errorf("capabilities %v lack UIDPLUS or MOVE", caps)
	}
	if c.Caps().Has(imap.CapIdle) {
		t.Errorf("the client learnt IDLE from the LOGIN response: %v", c.Caps())
	}
	// A client that tries anyway is refused at once.
	_, err = c.Idle()
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeBad {
		t.Fatalf("IDLE returned %v, want a BAD response", err)
	}
	// The session is still usable: polling sees new mail, and literals
	// that look like IDLE or capabilities pass untouched.
	tricky := sandboxPost(DemoMember, DemoReader, "polled", "<p@example.org>")
	tricky = append(tricky, []byte("a1 IDLE\r\n* CAPABILITY IMAP4rev1 IDLE\r\n")...)
	if err := w.Append(DemoReader, tricky); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("NOOP after refused IDLE: %v", err)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Errorf("NOOP sees %d messages, want 1", n)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgs[0].BodySection[0].Bytes, tricky) {
		t.Errorf("message altered on its way through:\n%q\nwant\n%q", msgs[0].BodySection[0].Bytes, tricky)
	}
	// APPEND from the client with the same bytes arrives intact too.
	cmd := c.Append("INBOX", int64(len(tricky)), nil)
	cmd.Write(tricky)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	stored, err := w.Messages(DemoReader)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 || !bytes.Equal(stored[1].Raw, tricky) {
		t.Errorf("appended message altered")
	}
}

func TestIdleReportsNewMailWhenAllowed(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	exists := make(chan uint32, 10)
	c := sandboxIMAPLogin(t, w.IMAPAddr, DemoReader, DemoReaderPassword, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "idle", "<idle@example.org>"))
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Errorf("IDLE ended with %v", err)
	}
}

func TestStopIMAPDropsClientsAndStartIMAPKeepsMail(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	addr := w.IMAPAddr
	c := sandboxIMAPLogin(t, addr, DemoReader, DemoReaderPassword, nil)
	if _, err := c.Idle(); err != nil {
		t.Fatal(err)
	}
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
	case <-time.After(waitTimeout):
		t.Fatal("client mid-IDLE did not see its connection drop")
	}
	if _, err := imapclient.DialInsecure(addr, nil); err == nil {
		t.Error("IMAP still accepts connections after StopIMAP")
	}
	if err := w.StopIMAP(); err == nil {
		t.Error("second StopIMAP did not fail")
	}
	// Mail keeps arriving while IMAP is down, and Messages still works.
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "while down", "<down@example.org>"))
	deadline := time.Now().Add(waitTimeout)
	for {
		msgs, err := w.Messages(DemoReader)
		if err != nil {
			t.Fatalf("Messages while IMAP is stopped: %v", err)
		}
		if len(msgs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("copy never stored while IMAP was stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	if w.IMAPAddr != addr {
		t.Errorf("IMAP moved from %s to %s", addr, w.IMAPAddr)
	}
	msgs := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	if s := msgs[0].header(t).Get("Subject"); s != "[Healthy] while down" {
		t.Errorf("after restart Subject %q", s)
	}
}

func TestMessagesShowsStoredFlagsAndSetsNone(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	for _, id := range []string{"<a@example.org>", "<b@example.org>", "<c@example.org>"} {
		if err := w.Append(DemoReader, sandboxPost("someone@example.org", DemoReader, "mail "+id, id)); err != nil {
			t.Fatal(err)
		}
	}
	c := sandboxIMAPLogin(t, w.IMAPAddr, DemoReader, DemoReaderPassword, nil)
	// A non-PEEK fetch of message 2 sets \Seen, as a careless client would.
	if _, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // reading twice shows Messages sets nothing itself
		msgs, err := w.Messages(DemoReader)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 3 {
			t.Fatalf("Messages = %d, want 3", len(msgs))
		}
		want := [][]string{nil, {`\Seen`}, {`\Deleted`}}
		for i, m := range msgs {
			if m.UID != uint32(i+1) {
				t.Errorf("message %d UID %d", i, m.UID)
			}
			if strings.Join(m.Flags, " ") != strings.Join(want[i], " ") {
				t.Errorf("round %d: message %d flags %v, want %v", round, i, m.Flags, want[i])
			}
			if !bytes.Contains(m.Raw, []byte("Subject: mail <")) {
				t.Errorf("message %d raw not returned", i)
			}
		}
	}
	if _, err := w.Messages("nobody@example.org"); err == nil {
		t.Error("Messages of an unknown account did not fail")
	}
	if err := w.Append("nobody@example.org", []byte("x")); err == nil {
		t.Error("Append to an unknown account did not fail")
	}
}

func TestCloseStopsPendingDelayedDelivery(t *testing.T) {
	opts := DemoOptions()
	opts.Lists[2].Delay = time.Hour
	w, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	mustSubmitAsMember(t, w, DemoSlow, sandboxPost(DemoMember, DemoSlow, "never", "<never@example.org>"))
	mustSubmitAsMember(t, w, DemoHealthy, sandboxPost(DemoMember, DemoHealthy, "marker", "<marker@example.org>"))
	waitInbox(t, w, DemoReader, DemoReaderPassword, 1) // the delayed post is now pending
	w.mu.Lock()
	pending := len(w.timers)
	w.mu.Unlock()
	if pending != 1 {
		t.Fatalf("%d pending delayed deliveries, want 1", pending)
	}
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close waits for a delivery an hour away")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.StartIMAP(); err == nil {
		t.Error("StartIMAP after Close did not fail")
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	acct := []Account{{Address: "a@example.org", Password: "p"}}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no accounts", Options{}, "Options.Accounts is empty"},
		{"bad account address", Options{Accounts: []Account{{Address: "not an address", Password: "p"}}}, "Accounts[0].Address"},
		{"empty password", Options{Accounts: []Account{{Address: "a@example.org"}}}, "Accounts[0] (a@example.org): Password is empty"},
		{"duplicate account", Options{Accounts: append(acct, acct...)}, "Accounts[1]: address a@example.org appears twice"},
		{"unknown policy", Options{Accounts: acct, Lists: []List{{Address: "l@lists.example.org", Policy: "bounce"}}}, `unknown Policy "bounce"`},
		{"delay without duration", Options{Accounts: acct, Lists: []List{{Address: "l@lists.example.org", Policy: Delay}}}, "needs a positive Delay"},
		{"subscriber not an account", Options{Accounts: acct, Lists: []List{{Address: "l@lists.example.org", Subscribers: []string{"b@example.org"}}}}, "Lists[0].Subscribers[0] b@example.org is not an account"},
		{"list is an account", Options{Accounts: acct, Lists: []List{{Address: "a@example.org"}}}, "Lists[0].Address a@example.org is also an account"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Start(tc.opts)
			if err == nil {
				w.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestModeratorGetsRequiresApprovalNotice(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	subject := "listprobe delivery test lp1.mod.token"
	mustSubmitAsMember(t, w, DemoModerated, sandboxPost(DemoMember, DemoModerated, subject, "<lp1.mod.token@example.org>"))
	msgs := waitInbox(t, w, DemoModerator, DemoModeratorPassword, 1)
	h := msgs[0].header(t)
	for k, want := range map[string]string{
		"Subject":    "moderated@lists.example.org post from member@example.org requires approval",
		"From":       "moderated-owner@lists.example.org",
		"To":         "moderated-owner@lists.example.org",
		"Precedence": "bulk",
		"List-Id":    "<moderated.lists.example.org>",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	_, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(strings.NewReader(msgs[0].body(t)), params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(p)
		parts = append(parts, p.Header.Get("Content-Type")+"\n"+b.String())
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3 (request, held message, confirm)", len(parts))
	}
	wantText := strings.ReplaceAll(`text/plain; charset="us-ascii"
As list administrator, your authorization is requested for the
following mailing list posting:

    List:    moderated@lists.example.org
    From:    member@example.org
    Subject: listprobe delivery test lp1.mod.token

The message is being held because:

    The message comes from a moderated member

At your convenience, visit your dashboard to approve or deny the
request.
`, "\n", "\r\n")
	if parts[0] != strings.Replace(wantText, "\r\n", "\n", 1) {
		t.Errorf("request text:\n%q\nwant:\n%q", parts[0], wantText)
	}
	if !strings.HasPrefix(parts[1], "message/rfc822\n") || !strings.Contains(parts[1], "Message-ID: <lp1.mod.token@example.org>\r\n") {
		t.Errorf("second part is not the held message:\n%s", parts[1])
	}
	if !regexp.MustCompile(`(?m)^Subject: confirm [0-9a-f]{40}\r$`).MatchString(parts[2]) || !strings.Contains(parts[2], "From: moderated-request@lists.example.org") {
		t.Errorf("third part is not the confirm message:\n%s", parts[2])
	}
}
