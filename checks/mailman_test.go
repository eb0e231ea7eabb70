package checks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/internal/testbed"
)

// These tests talk to the real Postfix + Dovecot + Mailman 3 testbed that
// deploy/testbed/up.sh starts. They start nothing themselves. Without the
// testbed they skip, except under CI=true, where they fail.
//
// Each test works on a list of its own, created for it and deleted after
// it, so that tests elsewhere that use the testbed's main list (and its
// per-sender cap of hold notices) are not disturbed.

// mailmanTestbedClient returns a REST client for the testbed's Mailman.
func mailmanTestbedClient(t testing.TB, env map[string]string) *Mailman {
	t.Helper()
	return NewMailman(MailmanOptions{
		URL:      env["LISTPROBE_TESTBED_MAILMAN_URL"],
		Username: env["LISTPROBE_TESTBED_MAILMAN_USER"],
		Password: testbed.Env(env).Secret(t, "LISTPROBE_TESTBED_MAILMAN_PASSWORD_FILE"),
	})
}

// mailmanAdmin returns the testbed's REST admin client for the server c
// reads: tests change lists through it, listprobe's client only reads.
func mailmanAdmin(c *Mailman) *testbed.MailmanAdmin {
	return &testbed.MailmanAdmin{URL: c.opts.URL, Username: c.opts.Username, Password: c.opts.Password}
}

func mailmanTestContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newMailmanTestList creates a list of the test's own on the testbed's list
// domain, with the member and the reader subscribed and the moderator as
// owner, and deletes it when the test ends.
func newMailmanTestList(t testing.TB, mm *Mailman, env map[string]string) string {
	t.Helper()
	ctx := mailmanTestContext(t)
	c := mailmanAdmin(mm)
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	list := "checks-" + hex.EncodeToString(rnd[:]) + "@" + env["LISTPROBE_TESTBED_LIST_DOMAIN"]
	if err := c.CreateList(ctx, list); err != nil {
		t.Fatalf("creating test list: %v", err)
	}
	t.Cleanup(func() { c.RetireList(list) })
	// No moderator notices unless a test asks for them: they go to the
	// list's own -owner address, and one still queued in Mailman when the
	// list is deleted makes its runner log an exception.
	if err := c.SetListConfig(ctx, list, map[string]any{
		"send_welcome_message":  false,
		"send_goodbye_message":  false,
		"admin_notify_mchanges": false,
		"admin_immed_notify":    false,
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ who, role string }{
		{env["LISTPROBE_TESTBED_MEMBER"], "member"},
		{env["LISTPROBE_TESTBED_READER"], "member"},
		{env["LISTPROBE_TESTBED_MODERATOR"], "owner"},
	} {
		if err := c.Subscribe(ctx, list, s.who, s.role); err != nil {
			t.Fatalf("subscribing %s as %s: %v", s.who, s.role, err)
		}
	}
	return list
}

// setMailmanTestConfig changes list settings and puts the old values back
// when the test ends.
func setMailmanTestConfig(t testing.TB, mm *Mailman, list string, settings map[string]any) {
	t.Helper()
	ctx := mailmanTestContext(t)
	c := mailmanAdmin(mm)
	old, err := c.ListConfig(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	restore := map[string]any{}
	for k := range settings {
		v, ok := old[k]
		if !ok {
			t.Fatalf("list config has no %q", k)
		}
		restore[k] = v
	}
	t.Cleanup(func() {
		err := c.SetListConfig(context.Background(), list, restore)
		if err != nil && !testbed.IsNotFound(err) {
			t.Errorf("restoring %s settings: %v", list, err)
		}
	})
	if err := c.SetListConfig(ctx, list, settings); err != nil {
		t.Fatal(err)
	}
}

// postToMailmanTestbed submits a small plain post from account (e.g.
// "MEMBER") to rcpt through the testbed's submission port and returns its
// Message-ID.
func postToMailmanTestbed(t testing.TB, env map[string]string, account, rcpt, subject string) string {
	t.Helper()
	from := env["LISTPROBE_TESTBED_"+account]
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	msgID := "<checks-" + hex.EncodeToString(rnd[:]) + "@example.test>"
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"+
		"A test post from listprobe's checks tests.\r\n",
		from, rcpt, subject, time.Now().Format(time.RFC1123Z), msgID)
	sendToMailmanTestbed(t, env, account, rcpt, []byte(msg))
	return msgID
}

// sendToMailmanTestbed submits msg from account to rcpt with AUTH PLAIN.
func sendToMailmanTestbed(t testing.TB, env map[string]string, account, rcpt string, msg []byte) {
	t.Helper()
	from := env["LISTPROBE_TESTBED_"+account]
	pw := testbed.Env(env).Secret(t, "LISTPROBE_TESTBED_"+account+"_PASSWORD_FILE")
	c, err := smtp.Dial(env["LISTPROBE_TESTBED_SMTP"])
	if err != nil {
		t.Fatalf("testbed submission: %v", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", from, pw)); err != nil {
		t.Fatalf("testbed submission AUTH as %s: %v", from, err)
	}
	if err := c.SendMail(from, []string{rcpt}, strings.NewReader(string(msg))); err != nil {
		t.Fatalf("testbed submission to %s: %v", rcpt, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("testbed submission QUIT: %v", err)
	}
}

// waitMailmanHeld waits until the post messageID is held on list.
func waitMailmanHeld(t testing.TB, c *Mailman, list, messageID string) HeldMessage {
	t.Helper()
	ctx := mailmanTestContext(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		held, err := c.Held(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range held {
			if h.MessageID == messageID {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not held on %s after 30s; held: %+v", messageID, list, held)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mailmanHeldIDs(t testing.TB, c *Mailman, list string) []string {
	t.Helper()
	held, err := c.Held(mailmanTestContext(t), list)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range held {
		ids = append(ids, h.MessageID)
	}
	return ids
}

func TestMailmanHeldQueueHoldsPostOfModeratedMember(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	ctx := mailmanTestContext(t)
	list := newMailmanTestList(t, c, env)

	// A new list holds nothing, and Mailman then omits "entries".
	held, err := c.Held(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 0 {
		t.Fatalf("new list holds %d posts: %+v", len(held), held)
	}
	if n, err := c.HeldCount(ctx, list); err != nil || n != 0 {
		t.Fatalf("HeldCount of a new list = %d, %v; want 0", n, err)
	}

	setMailmanTestConfig(t, c, list, map[string]any{"default_member_action": "hold"})
	subject := "checks held post " + time.Now().Format(time.RFC3339Nano)
	msgID := postToMailmanTestbed(t, env, "MEMBER", list, subject)
	h := waitMailmanHeld(t, c, list, msgID)
	t.Logf("held: request %d, reason %q, reasons %q, rules %q, date %s", h.RequestID, h.Reason, h.Reasons, h.RuleHits, h.HoldDate)

	if want := "The message comes from a moderated member"; h.Reason != want {
		t.Errorf("reason %q, want %q", h.Reason, want)
	}
	if h.Sender != env["LISTPROBE_TESTBED_MEMBER"] || h.Subject != subject {
		t.Errorf("sender %q subject %q, want %q %q", h.Sender, h.Subject, env["LISTPROBE_TESTBED_MEMBER"], subject)
	}
	if h.RequestID <= 0 {
		t.Errorf("request id %d", h.RequestID)
	}
	if !strings.Contains(h.Message, "Message-ID: "+msgID) {
		t.Errorf("held message text lacks its Message-ID:\n%s", h.Message)
	}
	if d := time.Since(h.HoldDate); d < -time.Hour || d > time.Hour {
		t.Errorf("hold date %s is not about now: not read as UTC?", h.HoldDate)
	}
	if n, err := c.HeldCount(ctx, list); err != nil || n != 1 {
		t.Errorf("HeldCount = %d, %v; want 1", n, err)
	}
}

func TestMailmanHeldReasonForEmergencyModeration(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	list := newMailmanTestList(t, c, env)

	setMailmanTestConfig(t, c, list, map[string]any{"emergency": true})
	msgID := postToMailmanTestbed(t, env, "MEMBER", list, "checks emergency post")
	h := waitMailmanHeld(t, c, list, msgID)
	t.Logf("emergency hold reason %q, rules %q", h.Reason, h.RuleHits)
	if want := "Emergency moderation is in effect for this list"; h.Reason != want {
		t.Errorf("reason %q, want %q", h.Reason, want)
	}
	if len(h.RuleHits) == 0 || h.RuleHits[0] != "emergency" {
		t.Errorf("rule hits %q, want emergency", h.RuleHits)
	}
}

func TestMailmanDiscardRemovesOnlyTheNamedPost(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	ctx := mailmanTestContext(t)
	list := newMailmanTestList(t, c, env)

	setMailmanTestConfig(t, c, list, map[string]any{"default_member_action": "hold"})
	// An ordinary post from someone else, held for its own reason: cleanup
	// of probes must leave it alone.
	other := postToMailmanTestbed(t, env, "OUTSIDER", list, "checks post from a non-member")
	otherHeld := waitMailmanHeld(t, c, list, other)
	if want := "The message is not from a list member"; otherHeld.Reason != want {
		t.Errorf("non-member reason %q, want %q", otherHeld.Reason, want)
	}
	mine := postToMailmanTestbed(t, env, "MEMBER", list, "checks post to discard")
	mineHeld := waitMailmanHeld(t, c, list, mine)

	// A request id with the wrong Message-ID discards nothing.
	ok, err := c.DiscardMessage(ctx, list, otherHeld.RequestID, mine)
	if err != nil || ok {
		t.Fatalf("DiscardMessage with a mismatched Message-ID = %v, %v; want false, nil", ok, err)
	}
	ok, err = c.DiscardMessage(ctx, list, mineHeld.RequestID, mine)
	if err != nil || !ok {
		t.Fatalf("DiscardMessage = %v, %v; want true, nil", ok, err)
	}
	ids := mailmanHeldIDs(t, c, list)
	if len(ids) != 1 || ids[0] != other {
		t.Fatalf("held after discarding %s: %q; want only %s", mine, ids, other)
	}
	// Gone is gone: a second discard finds nothing.
	ok, err = c.DiscardMessage(ctx, list, mineHeld.RequestID, mine)
	if err != nil || ok {
		t.Errorf("second DiscardMessage = %v, %v; want false, nil", ok, err)
	}
	err = c.Discard(ctx, list, mineHeld.RequestID)
	if !IsMailmanNotFound(err) {
		t.Errorf("Discard of a discarded request: %v; want a 404", err)
	}
	if err := c.Discard(ctx, list, otherHeld.RequestID); err != nil {
		t.Fatal(err)
	}
	if ids := mailmanHeldIDs(t, c, list); len(ids) != 0 {
		t.Errorf("held after discarding both: %q", ids)
	}
}

func TestMailmanModerationReadsBackChanges(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	ctx := mailmanTestContext(t)
	list := newMailmanTestList(t, c, env)

	got, err := c.Moderation(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	// Mailman 3's defaults for a new list, but for admin_immed_notify,
	// which newMailmanTestList turns off.
	want := ListModeration{DefaultMemberAction: "defer", DefaultNonmemberAction: "hold", RespondToPostRequests: true}
	if got != want {
		t.Errorf("new list moderation %+v, want %+v", got, want)
	}
	setMailmanTestConfig(t, c, list, map[string]any{
		"default_member_action":    "reject",
		"default_nonmember_action": "discard",
		"emergency":                true,
		"respond_to_post_requests": false,
		"admin_immed_notify":       true,
	})
	got, err = c.Moderation(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	want = ListModeration{DefaultMemberAction: "reject", DefaultNonmemberAction: "discard", Emergency: true, AdminImmedNotify: true}
	if got != want {
		t.Errorf("moderation after PATCH %+v, want %+v", got, want)
	}
}

func TestMailmanMemberModerationReadsBackChanges(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	ctx := mailmanTestContext(t)
	list := newMailmanTestList(t, c, env)
	member := env["LISTPROBE_TESTBED_MEMBER"]

	for _, step := range []struct{ set, want string }{
		{"", ""}, // no action of its own: the list default applies
		{"hold", "hold"},
		{"discard", "discard"},
		{"", ""},
	} {
		if err := mailmanAdmin(c).SetMemberModeration(ctx, list, member, step.set); err != nil {
			t.Fatal(err)
		}
		got, err := c.MemberModeration(ctx, list, member)
		if err != nil {
			t.Fatal(err)
		}
		if got != step.want {
			t.Errorf("after setting %q: moderation_action %q, want %q", step.set, got, step.want)
		}
	}
	_, err := c.MemberModeration(ctx, list, env["LISTPROBE_TESTBED_OUTSIDER"])
	if !IsMailmanNotFound(err) {
		t.Errorf("MemberModeration of a non-member: %v; want a 404", err)
	}
}

func TestMailmanMemberModerationHoldsPost(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	ctx := mailmanTestContext(t)
	list := newMailmanTestList(t, c, env)
	member := env["LISTPROBE_TESTBED_MEMBER"]

	admin := mailmanAdmin(c)
	if err := admin.SetMemberModeration(ctx, list, member, "hold"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.SetMemberModeration(context.Background(), list, member, "") })
	msgID := postToMailmanTestbed(t, env, "MEMBER", list, "checks post of a moderated member")
	h := waitMailmanHeld(t, c, list, msgID)
	t.Logf("member moderation hold reason %q, rules %q", h.Reason, h.RuleHits)
	if want := "The message comes from a moderated member"; h.Reason != want {
		t.Errorf("reason %q, want %q", h.Reason, want)
	}
}

func TestMailmanErrorsNamePathAndStatusNotPassword(t *testing.T) {
	env := testbed.Load(t)
	ctx := mailmanTestContext(t)
	list := env["LISTPROBE_TESTBED_LIST"]

	const wrong = "not-the-password-3141"
	bad := NewMailman(MailmanOptions{URL: env["LISTPROBE_TESTBED_MAILMAN_URL"], Username: env["LISTPROBE_TESTBED_MAILMAN_USER"], Password: wrong})
	_, err := bad.Held(ctx, list)
	var me *MailmanError
	if !errors.As(err, &me) || me.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v; want a 401 MailmanError", err)
	}
	if s := err.Error(); !strings.Contains(s, "/3.1/lists/"+env["LISTPROBE_TESTBED_LIST_ID"]+"/held") || !strings.Contains(s, "401") || strings.Contains(s, wrong) {
		t.Errorf("error %q should name the path and 401, not the password", s)
	}

	c := mailmanTestbedClient(t, env)
	_, err = c.Moderation(ctx, "no-such-list@"+env["LISTPROBE_TESTBED_LIST_DOMAIN"])
	if !IsMailmanNotFound(err) || !strings.Contains(err.Error(), "/3.1/lists/no-such-list."+env["LISTPROBE_TESTBED_LIST_DOMAIN"]+"/config") {
		t.Errorf("unknown list: %v; want a 404 naming the path", err)
	}
	err = mailmanAdmin(c).SetListConfig(ctx, list, map[string]any{"default_member_action": "sometimes"})
	var re *testbed.RESTError
	if !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Description == "" {
		t.Errorf("invalid setting: %v; want a 400 with Mailman's explanation", err)
	}
}

func TestMailmanUnreachableServerIsAnErrorNamingTheHost(t *testing.T) {
	// 127.0.0.1:1 refuses connections; no testbed needed.
	c := NewMailman(MailmanOptions{URL: "http://127.0.0.1:1/3.1", Username: "u", Password: "secret-pw"})
	_, err := c.Held(context.Background(), "probe@lists.example.test")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "/3.1/lists/probe.lists.example.test/held") {
		t.Errorf("unreachable server: %v; want an error naming host and path", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestMailmanRejectsBadListAddressAndURL(t *testing.T) {
	c := NewMailman(MailmanOptions{URL: "http://127.0.0.1:1/3.1"})
	for _, list := range []string{"", "nolist", "@lists.example.test", "probe@", "a/b@lists.example.test"} {
		if _, err := c.Held(context.Background(), list); err == nil || !strings.Contains(err.Error(), "list address") {
			t.Errorf("list %q: %v; want a list address error", list, err)
		}
	}
	for _, u := range []string{"", "127.0.0.1:8001/3.1", "ftp://127.0.0.1/3.1", "http://user:pw-in-url@/3.1", "http://user:pw-in-url@127.0.0.1:port/3.1", "http://user:pw-in-url@127.0.0.1/3.1\x7f"} {
		_, err := NewMailman(MailmanOptions{URL: u}).Moderation(context.Background(), "probe@lists.example.test")
		if err == nil || !strings.Contains(err.Error(), "mailman URL") {
			t.Errorf("URL %q: %v; want a mailman URL error", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw-in-url") {
			t.Errorf("URL error leaks the password: %v", err)
		}
	}
	if id, err := MailmanListID("probe-test@lists.example.test"); err != nil || id != "probe-test.lists.example.test" {
		t.Errorf("MailmanListID = %q, %v", id, err)
	}
}

// holdNoticesFor counts the hold notices in the member's mailbox that quote
// subject.
func holdNoticesFor(t testing.TB, env map[string]string, subject string) int {
	t.Helper()
	c := testbed.Env(env).Mailbox(t, "MEMBER")
	return len(testbed.Search(t, c, &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "awaits moderator approval"}},
		Text:   []string{subject},
	}))
}

// Mailman handles posts one at a time in arrival order, so once the notice
// for a later post is in the mailbox, a notice for an earlier one would be
// there too.
func TestMailmanSilentHoldIsVisibleOnlyThroughREST(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	list := newMailmanTestList(t, c, env)
	stamp := time.Now().Format("150405.000000")

	setMailmanTestConfig(t, c, list, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
	silentSubject := "checks silent hold " + stamp
	silent := postToMailmanTestbed(t, env, "MEMBER", list, silentSubject)
	h := waitMailmanHeld(t, c, list, silent)
	if h.Reason != "The message comes from a moderated member" {
		t.Errorf("silent hold reason %q", h.Reason)
	}

	if err := mailmanAdmin(c).SetListConfig(mailmanTestContext(t), list, map[string]any{"respond_to_post_requests": true}); err != nil {
		t.Fatal(err)
	}
	markerSubject := "checks marker hold " + stamp
	postToMailmanTestbed(t, env, "MEMBER", list, markerSubject)
	fetchFromTestbedMailbox(t, env, "MEMBER", &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "awaits moderator approval"}},
		Text:   []string{markerSubject},
	})
	if n := holdNoticesFor(t, env, silentSubject); n != 0 {
		t.Errorf("%d hold notices for a post held with respond_to_post_requests=false", n)
	}
}

func TestMailmanDiscardActionNeitherHoldsNorDelivers(t *testing.T) {
	env := testbed.Load(t)
	c := mailmanTestbedClient(t, env)
	list := newMailmanTestList(t, c, env)
	stamp := time.Now().Format("150405.000000")

	setMailmanTestConfig(t, c, list, map[string]any{"default_member_action": "discard"})
	discardedSubject := "checks discarded post " + stamp
	discarded := postToMailmanTestbed(t, env, "MEMBER", list, discardedSubject)
	// The marker comes from a non-member, whose posts are held by default:
	// changing the list's settings now could apply to the first post too,
	// since Mailman reads them when it processes a post, not when it
	// receives it.
	marker := postToMailmanTestbed(t, env, "OUTSIDER", list, "checks marker after discard "+stamp)
	waitMailmanHeld(t, c, list, marker)
	for _, id := range mailmanHeldIDs(t, c, list) {
		if id == discarded {
			t.Errorf("discarded post %s is in the held queue", discarded)
		}
	}
	if n := holdNoticesFor(t, env, discardedSubject); n != 0 {
		t.Errorf("%d hold notices for a discarded post", n)
	}
	reader := testbed.Env(env).Mailbox(t, "READER")
	if uids := testbed.Search(t, reader, &imap.SearchCriteria{Text: []string{discardedSubject}}); len(uids) != 0 {
		t.Errorf("discarded post reached the reader")
	}
}
