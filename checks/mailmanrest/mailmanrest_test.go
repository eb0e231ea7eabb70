package mailmanrest_test

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

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/testbed"
)

// These tests talk to the real Postfix + Dovecot + Mailman 3 testbed that
// deploy/testbed/up.sh starts. They start nothing themselves. Without the
// testbed they skip, except under CI=true, where they fail.
//
// Each test works on a list of its own, created for it and deleted after
// it, so that tests elsewhere that use the testbed's main list (and its
// per-sender cap of hold notices) are not disturbed.

func mailmanTestContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// postToMailmanTestbed submits a small plain post from account (e.g.
// "MEMBER") to rcpt through the testbed's submission port and returns its
// Message-ID.
func postToMailmanTestbed(t testing.TB, env testbed.Env, account, rcpt, subject string) string {
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
	env.Submit(t, account, rcpt, []byte(msg))
	return msgID
}

func mailmanHeldIDs(t testing.TB, c *mailmanrest.Client, list string) []string {
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
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	list := env.NewMailmanList(t)

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

	env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold"})
	subject := "checks held post " + time.Now().Format(time.RFC3339Nano)
	msgID := postToMailmanTestbed(t, env, "MEMBER", list, subject)
	h := testbed.WaitHeld(t, c, list, msgID)
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
	c := env.MailmanClient(t)
	list := env.NewMailmanList(t)

	env.SetMailmanListConfig(t, list, map[string]any{"emergency": true})
	msgID := postToMailmanTestbed(t, env, "MEMBER", list, "checks emergency post")
	h := testbed.WaitHeld(t, c, list, msgID)
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
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	list := env.NewMailmanList(t)

	env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold"})
	// An ordinary post from someone else, held for its own reason: cleanup
	// of probes must leave it alone.
	other := postToMailmanTestbed(t, env, "OUTSIDER", list, "checks post from a non-member")
	otherHeld := testbed.WaitHeld(t, c, list, other)
	if want := "The message is not from a list member"; otherHeld.Reason != want {
		t.Errorf("non-member reason %q, want %q", otherHeld.Reason, want)
	}
	mine := postToMailmanTestbed(t, env, "MEMBER", list, "checks post to discard")
	mineHeld := testbed.WaitHeld(t, c, list, mine)

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
	if !mailmanrest.IsNotFound(err) {
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
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	list := env.NewMailmanList(t)

	got, err := c.Moderation(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	// Mailman 3's defaults for a new list, but for admin_immed_notify,
	// which newMailmanTestList turns off.
	want := mailmanrest.ListModeration{DefaultMemberAction: "defer", DefaultNonmemberAction: "hold", RespondToPostRequests: true}
	if got != want {
		t.Errorf("new list moderation %+v, want %+v", got, want)
	}
	env.SetMailmanListConfig(t, list, map[string]any{
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
	want = mailmanrest.ListModeration{DefaultMemberAction: "reject", DefaultNonmemberAction: "discard", Emergency: true, AdminImmedNotify: true}
	if got != want {
		t.Errorf("moderation after PATCH %+v, want %+v", got, want)
	}
}

func TestMailmanMemberModerationReadsBackChanges(t *testing.T) {
	env := testbed.Load(t)
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	list := env.NewMailmanList(t)
	member := env["LISTPROBE_TESTBED_MEMBER"]

	for _, step := range []struct{ set, want string }{
		{"", ""}, // no action of its own: the list default applies
		{"hold", "hold"},
		{"discard", "discard"},
		{"", ""},
	} {
		if err := env.MailmanAdmin(t).SetMemberModeration(ctx, list, member, step.set); err != nil {
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
	if !mailmanrest.IsNotFound(err) {
		t.Errorf("MemberModeration of a non-member: %v; want a 404", err)
	}
}

func TestMailmanMemberModerationHoldsPost(t *testing.T) {
	env := testbed.Load(t)
	c := env.MailmanClient(t)
	ctx := mailmanTestContext(t)
	list := env.NewMailmanList(t)
	member := env["LISTPROBE_TESTBED_MEMBER"]

	admin := env.MailmanAdmin(t)
	if err := admin.SetMemberModeration(ctx, list, member, "hold"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.SetMemberModeration(context.Background(), list, member, "") })
	msgID := postToMailmanTestbed(t, env, "MEMBER", list, "checks post of a moderated member")
	h := testbed.WaitHeld(t, c, list, msgID)
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
	bad := mailmanrest.New(mailmanrest.Options{URL: env["LISTPROBE_TESTBED_MAILMAN_URL"], Username: env["LISTPROBE_TESTBED_MAILMAN_USER"], Password: wrong})
	_, err := bad.Held(ctx, list)
	var me *mailmanrest.Error
	if !errors.As(err, &me) || me.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v; want a 401 mailmanrest.Error", err)
	}
	if s := err.Error(); !strings.Contains(s, "/3.1/lists/"+env["LISTPROBE_TESTBED_LIST_ID"]+"/held") || !strings.Contains(s, "401") || strings.Contains(s, wrong) {
		t.Errorf("error %q should name the path and 401, not the password", s)
	}

	c := env.MailmanClient(t)
	_, err = c.Moderation(ctx, "no-such-list@"+env["LISTPROBE_TESTBED_LIST_DOMAIN"])
	if !mailmanrest.IsNotFound(err) || !strings.Contains(err.Error(), "/3.1/lists/no-such-list."+env["LISTPROBE_TESTBED_LIST_DOMAIN"]+"/config") {
		t.Errorf("unknown list: %v; want a 404 naming the path", err)
	}
	err = env.MailmanAdmin(t).SetListConfig(ctx, list, map[string]any{"default_member_action": "sometimes"})
	var re *mailmanrest.Error
	if !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Description == "" {
		t.Errorf("invalid setting: %v; want a 400 with Mailman's explanation", err)
	}
}

func TestMailmanUnreachableServerIsAnErrorNamingTheHost(t *testing.T) {
	// 127.0.0.1:1 refuses connections; no testbed needed.
	c := mailmanrest.New(mailmanrest.Options{URL: "http://127.0.0.1:1/3.1", Username: "u", Password: "secret-pw"})
	_, err := c.Held(context.Background(), "probe@lists.example.test")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "/3.1/lists/probe.lists.example.test/held") {
		t.Errorf("unreachable server: %v; want an error naming host and path", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestMailmanRejectsBadListAddressAndURL(t *testing.T) {
	c := mailmanrest.New(mailmanrest.Options{URL: "http://127.0.0.1:1/3.1"})
	for _, list := range []string{"", "nolist", "@lists.example.test", "probe@", "a/b@lists.example.test"} {
		if _, err := c.Held(context.Background(), list); err == nil || !strings.Contains(err.Error(), "list address") {
			t.Errorf("list %q: %v; want a list address error", list, err)
		}
	}
	for _, u := range []string{"", "127.0.0.1:8001/3.1", "ftp://127.0.0.1/3.1", "http://user:pw-in-url@/3.1", "http://user:pw-in-url@127.0.0.1:port/3.1", "http://user:pw-in-url@127.0.0.1/3.1\x7f"} {
		_, err := mailmanrest.New(mailmanrest.Options{URL: u}).Moderation(context.Background(), "probe@lists.example.test")
		if err == nil || !strings.Contains(err.Error(), "mailman URL") {
			t.Errorf("URL %q: %v; want a mailman URL error", u, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw-in-url") {
			t.Errorf("URL error leaks the password: %v", err)
		}
	}
	if id, err := mailmanrest.ListID("probe-test@lists.example.test"); err != nil || id != "probe-test.lists.example.test" {
		t.Errorf("mailmanrest.ListID = %q, %v", id, err)
	}
}

// holdNoticesFor counts the hold notices in the member's mailbox that quote
// subject.
func holdNoticesFor(t testing.TB, env testbed.Env, subject string) int {
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
	c := env.MailmanClient(t)
	list := env.NewMailmanList(t)
	stamp := time.Now().Format("150405.000000")

	env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
	silentSubject := "checks silent hold " + stamp
	silent := postToMailmanTestbed(t, env, "MEMBER", list, silentSubject)
	h := testbed.WaitHeld(t, c, list, silent)
	if h.Reason != "The message comes from a moderated member" {
		t.Errorf("silent hold reason %q", h.Reason)
	}

	if err := env.MailmanAdmin(t).SetListConfig(mailmanTestContext(t), list, map[string]any{"respond_to_post_requests": true}); err != nil {
		t.Fatal(err)
	}
	markerSubject := "checks marker hold " + stamp
	postToMailmanTestbed(t, env, "MEMBER", list, markerSubject)
	env.WaitMessage(t, "MEMBER", &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "awaits moderator approval"}},
		Text:   []string{markerSubject},
	}, time.Minute)
	if n := holdNoticesFor(t, env, silentSubject); n != 0 {
		t.Errorf("%d hold notices for a post held with respond_to_post_requests=false", n)
	}
}

func TestMailmanDiscardActionNeitherHoldsNorDelivers(t *testing.T) {
	env := testbed.Load(t)
	c := env.MailmanClient(t)
	list := env.NewMailmanList(t)
	stamp := time.Now().Format("150405.000000")

	env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "discard"})
	discardedSubject := "checks discarded post " + stamp
	discarded := postToMailmanTestbed(t, env, "MEMBER", list, discardedSubject)
	// The marker comes from a non-member, whose posts are held by default:
	// changing the list's settings now could apply to the first post too,
	// since Mailman reads them when it processes a post, not when it
	// receives it.
	marker := postToMailmanTestbed(t, env, "OUTSIDER", list, "checks marker after discard "+stamp)
	testbed.WaitHeld(t, c, list, marker)
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
