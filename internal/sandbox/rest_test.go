package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/testbed"
)

// restAdmin is the tests' REST admin client pointed at the world: it
// changes lists, which listprobe's own client never does.
func restAdmin(w *World) *testbed.MailmanAdmin {
	return &testbed.MailmanAdmin{URL: w.MailmanURL, Username: w.MailmanUsername, Password: w.MailmanPassword}
}

// restClient is listprobe's own Mailman client pointed at the world.
func restClient(t *testing.T, w *World) *mailmanrest.Client {
	t.Helper()
	return mailmanrest.New(mailmanrest.Options{URL: w.MailmanURL, Username: w.MailmanUsername, Password: w.MailmanPassword})
}

func restContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// restRaw sends one request with the world's credentials (unless noAuth)
// and returns the status and the decoded JSON body (nil when empty).
func restRaw(t *testing.T, w *World, method, path string, form url.Values, noAuth bool) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(w.MailmanURL, "/3.1")+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if !noAuth {
		req.SetBasicAuth(w.MailmanUsername, w.MailmanPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return resp.StatusCode, nil
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, data)
	}
	return resp.StatusCode, out
}

// postAndSettle posts as the demo member and waits until the list has
// processed the post.
func postAndSettle(t *testing.T, w *World, list, subject, messageID string) {
	t.Helper()
	mustSubmitAsMember(t, w, list, sandboxPost(DemoMember, list, subject, messageID))
	drainSandboxQueue(t, w)
}

func TestRESTHeldQueueEmptyThenShowsHeldPost(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)

	held, err := mm.Held(ctx, DemoModerated)
	if err != nil || len(held) != 0 {
		t.Fatalf("Held before any post = %v, %v; want empty", held, err)
	}
	status, page := restRaw(t, w, "GET", "/3.1/lists/moderated.lists.example.org/held", nil, false)
	if status != 200 || page["total_size"] != 0.0 || page["start"] != 0.0 || page["http_etag"] == nil {
		t.Errorf("empty held page: %d %v", status, page)
	}
	if _, has := page["entries"]; has {
		t.Errorf("empty held page has entries, Mailman leaves them out: %v", page)
	}

	postAndSettle(t, w, DemoModerated, "listprobe delivery test lp1.rest.token", "<lp1.rest.token@example.org>")
	held, err = mm.Held(ctx, DemoModerated)
	if err != nil || len(held) != 1 {
		t.Fatalf("Held after a held post = %v, %v; want one", held, err)
	}
	h := held[0]
	if h.MessageID != "<lp1.rest.token@example.org>" || h.Reason != DefaultHoldReason || h.Sender != DemoMember ||
		h.Subject != "listprobe delivery test lp1.rest.token" || h.RequestID != 1 {
		t.Errorf("held entry %+v", h)
	}
	if len(h.RuleHits) != 1 || h.RuleHits[0] != "member-moderation" || len(h.Reasons) != 1 || h.Reasons[0] != DefaultHoldReason {
		t.Errorf("rule hits %v, reasons %v", h.RuleHits, h.Reasons)
	}
	if d := time.Since(h.HoldDate); d < 0 || d > time.Hour {
		t.Errorf("hold date %v is not now", h.HoldDate)
	}
	if !strings.Contains(h.Message, "\nX-Listprobe-Token: lp1.test.token\n") || strings.Contains(h.Message, "\r") {
		t.Errorf("msg is not the held post as Python's as_string writes it:\n%q", h.Message)
	}
	if n, err := mm.HeldCount(ctx, DemoModerated); err != nil || n != 1 {
		t.Errorf("HeldCount = %d, %v", n, err)
	}
	if got := w.Held(DemoModerated); len(got) != 1 || got[0].MessageID != h.MessageID {
		t.Errorf("World.Held disagrees with REST: %+v", got)
	}

	status, entry := restRaw(t, w, "GET", "/3.1/lists/moderated.lists.example.org/held/1", nil, false)
	if status != 200 {
		t.Fatalf("GET held/1: %d %v", status, entry)
	}
	if want := w.MailmanURL + "/lists/moderated.lists.example.org/held/1"; entry["self_link"] != want {
		t.Errorf("self_link %v, want %s", entry["self_link"], want)
	}
	for _, k := range []string{"http_etag", "hold_date", "original_subject", "rule_misses", "moderation_sender"} {
		if entry[k] == nil {
			t.Errorf("held entry lacks %s: %v", k, entry)
		}
	}
	if _, has := entry["type"]; has {
		t.Errorf("held entry has type; Mailman 3.3 deletes it: %v", entry)
	}
}

func TestRESTDiscardMessageDiscardsOnlyTheNamedPost(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)
	postAndSettle(t, w, DemoModerated, "first", "<first@example.org>")
	postAndSettle(t, w, DemoModerated, "second", "<second@example.org>")

	// Request 1 is not <second@...>: nothing may go.
	if done, err := mm.DiscardMessage(ctx, DemoModerated, 1, "<second@example.org>"); err != nil || done {
		t.Fatalf("DiscardMessage with a mismatched Message-ID = %v, %v", done, err)
	}
	if n := len(w.Held(DemoModerated)); n != 2 {
		t.Fatalf("%d held after a refused discard, want 2", n)
	}
	if done, err := mm.DiscardMessage(ctx, DemoModerated, 1, "first@example.org"); err != nil || !done {
		t.Fatalf("DiscardMessage(1, first) = %v, %v", done, err)
	}
	held := w.Held(DemoModerated)
	if len(held) != 1 || held[0].MessageID != "<second@example.org>" || held[0].RequestID != 2 {
		t.Fatalf("held after discarding the first: %+v", held)
	}
	if done, err := mm.DiscardMessage(ctx, DemoModerated, 1, "<first@example.org>"); err != nil || done {
		t.Errorf("second DiscardMessage of a gone request = %v, %v", done, err)
	}
	drainSandboxQueue(t, w)
	if n := len(waitInbox(t, w, DemoReader, DemoReaderPassword, 0)); n != 0 {
		t.Errorf("a discard delivered %d messages to the reader", n)
	}
}

func TestRESTModerationReadsBackPatchedSettings(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)

	got, err := mm.Moderation(ctx, DemoHealthy)
	want := mailmanrest.ListModeration{DefaultMemberAction: "defer", DefaultNonmemberAction: "hold", RespondToPostRequests: true, AdminImmedNotify: true}
	if err != nil || got != want {
		t.Fatalf("Moderation at start = %+v, %v; want Mailman's defaults %+v", got, err, want)
	}
	if err := restAdmin(w).SetListConfig(ctx, DemoHealthy, map[string]any{
		"default_member_action": "reject", "default_nonmember_action": "discard", "emergency": true,
		"respond_to_post_requests": false, "admin_immed_notify": false,
	}); err != nil {
		t.Fatal(err)
	}
	got, err = mm.Moderation(ctx, DemoHealthy)
	want = mailmanrest.ListModeration{DefaultMemberAction: "reject", DefaultNonmemberAction: "discard", Emergency: true}
	if err != nil || got != want {
		t.Errorf("Moderation after PATCH = %+v, %v; want %+v", got, err, want)
	}
	if p := w.Policy(DemoHealthy); p != Reject {
		t.Errorf("Policy after PATCH default_member_action=reject = %q", p)
	}
	w.SetPolicy(DemoHealthy, Drop)
	if got, _ := mm.Moderation(ctx, DemoHealthy); got.DefaultMemberAction != "discard" {
		t.Errorf("after SetPolicy(Drop) REST shows default_member_action %q", got.DefaultMemberAction)
	}

	if a, err := mm.MemberModeration(ctx, DemoHealthy, DemoMember); err != nil || a != "" {
		t.Fatalf("MemberModeration at start = %q, %v; want none", a, err)
	}
	if err := restAdmin(w).SetMemberModeration(ctx, DemoHealthy, DemoMember, "hold"); err != nil {
		t.Fatal(err)
	}
	if a, err := mm.MemberModeration(ctx, DemoHealthy, DemoMember); err != nil || a != "hold" {
		t.Errorf("MemberModeration after PATCH = %q, %v", a, err)
	}
	if err := restAdmin(w).SetMemberModeration(ctx, DemoHealthy, DemoMember, ""); err != nil {
		t.Fatal(err)
	}
	if a, err := mm.MemberModeration(ctx, DemoHealthy, DemoMember); err != nil || a != "" {
		t.Errorf("MemberModeration after blanking = %q, %v", a, err)
	}
	if _, err := mm.MemberModeration(ctx, DemoHealthy, "stranger@example.org"); !mailmanrest.IsNotFound(err) {
		t.Errorf("MemberModeration of a non-member: %v, want 404", err)
	}
}

func TestRESTPatchDefaultMemberActionHoldsThenDelivers(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)

	if err := restAdmin(w).SetListConfig(ctx, DemoHealthy, map[string]any{"default_member_action": "hold"}); err != nil {
		t.Fatal(err)
	}
	if p := w.Policy(DemoHealthy); p != Hold {
		t.Errorf("Policy = %q after PATCH hold", p)
	}
	postAndSettle(t, w, DemoHealthy, "held by the PATCH", "<patched-hold@example.org>")
	notices := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)
	if s := notices[0].header(t).Get("Subject"); s != "Your message to healthy@lists.example.org awaits moderator approval" {
		t.Errorf("poster got %q, want the hold notice", s)
	}
	held, err := mm.Held(ctx, DemoHealthy)
	if err != nil || len(held) != 1 || held[0].MessageID != "<patched-hold@example.org>" || held[0].Reason != DefaultHoldReason {
		t.Fatalf("Held = %+v, %v", held, err)
	}
	if n := len(waitInbox(t, w, DemoReader, DemoReaderPassword, 0)); n != 0 {
		t.Errorf("reader got %d copies of a held post", n)
	}

	if err := restAdmin(w).SetListConfig(ctx, DemoHealthy, map[string]any{"default_member_action": "defer"}); err != nil {
		t.Fatal(err)
	}
	if p := w.Policy(DemoHealthy); p != Deliver {
		t.Errorf("Policy = %q after PATCH defer", p)
	}
	postAndSettle(t, w, DemoHealthy, "delivered again", "<patched-defer@example.org>")
	copies := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	if s := copies[0].header(t).Get("Subject"); s != "[Healthy] delivered again" {
		t.Errorf("reader got %q", s)
	}
}

func TestRESTEmergencyHoldsMemberPosts(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)
	if err := restAdmin(w).SetListConfig(ctx, DemoHealthy, map[string]any{"emergency": true}); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, DemoHealthy, "in an emergency", "<emergency@example.org>")
	held, err := mm.Held(ctx, DemoHealthy)
	if err != nil || len(held) != 1 {
		t.Fatalf("Held = %+v, %v", held, err)
	}
	if held[0].Reason != EmergencyReason || len(held[0].RuleHits) != 1 || held[0].RuleHits[0] != "emergency" {
		t.Errorf("held for %q by %v, want %q by emergency", held[0].Reason, held[0].RuleHits, EmergencyReason)
	}
	body := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)[0].body(t)
	if !strings.Contains(body, "\r\n    "+EmergencyReason+"\r\n") {
		t.Errorf("hold notice does not give the emergency reason:\n%s", body)
	}
	if p := w.Policy(DemoHealthy); p != Deliver {
		t.Errorf("emergency changed Policy to %q; it reports default_member_action", p)
	}
}

func TestRESTSilentHoldSendsNoNoticeButShowsInHeld(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)
	if err := restAdmin(w).SetListConfig(ctx, DemoModerated, map[string]any{"respond_to_post_requests": false, "admin_immed_notify": false}); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, DemoModerated, "silently held", "<silent@example.org>")
	held, err := mm.Held(ctx, DemoModerated)
	if err != nil || len(held) != 1 || held[0].MessageID != "<silent@example.org>" {
		t.Fatalf("Held = %+v, %v", held, err)
	}
	for _, acct := range []struct{ user, pass string }{{DemoMember, DemoMemberPassword}, {DemoModerator, DemoModeratorPassword}, {DemoReader, DemoReaderPassword}} {
		if n := len(waitInbox(t, w, acct.user, acct.pass, 0)); n != 0 {
			t.Errorf("%s got %d messages from a silent hold", acct.user, n)
		}
	}

	// Only the poster's notice back on: the moderator stays uninformed.
	if err := restAdmin(w).SetListConfig(ctx, DemoModerated, map[string]any{"respond_to_post_requests": true}); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, DemoModerated, "held with a notice", "<notice@example.org>")
	if n := len(waitInbox(t, w, DemoMember, DemoMemberPassword, 1)); n != 1 {
		t.Errorf("member has %d notices, want 1", n)
	}
	if n := len(waitInbox(t, w, DemoModerator, DemoModeratorPassword, 0)); n != 0 {
		t.Errorf("moderator got %d notices with admin_immed_notify off", n)
	}
}

func TestRESTMemberModerationActionOverridesListDefault(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	ctx := restContext(t)
	if err := restAdmin(w).SetMemberModeration(ctx, DemoHealthy, DemoMember, "hold"); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, DemoHealthy, "moderated member", "<member-hold@example.org>")
	if held := w.Held(DemoHealthy); len(held) != 1 || held[0].Reason != DefaultHoldReason {
		t.Fatalf("Held = %+v", held)
	}
	// accept on a member passes even a list that holds everyone else.
	w.SetPolicy(DemoHealthy, Hold)
	if err := restAdmin(w).SetMemberModeration(ctx, DemoHealthy, DemoMember, "accept"); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, DemoHealthy, "trusted member", "<member-accept@example.org>")
	copies := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	if h := copies[0].header(t); h.Get("Subject") != "[Healthy] trusted member" || h.Get("X-Mailman-Rule-Hits") != "member-moderation" {
		t.Errorf("copy Subject %q, rule hits %q", h.Get("Subject"), h.Get("X-Mailman-Rule-Hits"))
	}
	if n := len(w.Held(DemoHealthy)); n != 1 {
		t.Errorf("%d held, want only the first post", n)
	}
}

func TestRESTNonmemberPostFollowsDefaultNonmemberAction(t *testing.T) {
	opts := DemoOptions()
	opts.Lists[0].Members = []string{DemoModerator} // the member posts as a non-member
	w := startSandboxWorld(t, opts)
	mm, ctx := restClient(t, w), restContext(t)

	postAndSettle(t, w, DemoHealthy, "from outside", "<outside@example.org>")
	held, err := mm.Held(ctx, DemoHealthy)
	if err != nil || len(held) != 1 {
		t.Fatalf("Held = %+v, %v", held, err)
	}
	if held[0].Reason != NonmemberReason || held[0].RuleHits[0] != "nonmember-moderation" {
		t.Errorf("held for %q by %v", held[0].Reason, held[0].RuleHits)
	}
	if _, err := mm.MemberModeration(ctx, DemoHealthy, DemoMember); !mailmanrest.IsNotFound(err) {
		t.Errorf("member lookup of a non-member: %v, want 404", err)
	}

	if err := restAdmin(w).SetListConfig(ctx, DemoHealthy, map[string]any{"default_nonmember_action": "defer"}); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, DemoHealthy, "outside but welcome", "<welcome@example.org>")
	if s := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)[0].header(t).Get("Subject"); s != "[Healthy] outside but welcome" {
		t.Errorf("reader got %q", s)
	}
}

func TestRESTAcceptDeliversAndRejectNotifies(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	postAndSettle(t, w, DemoModerated, "approve me", "<approve@example.org>")
	postAndSettle(t, w, DemoModerated, "refuse me", "<refuse@example.org>")
	waitInbox(t, w, DemoMember, DemoMemberPassword, 2) // the two hold notices

	if status, body := restRaw(t, w, "POST", "/3.1/lists/moderated.lists.example.org/held/1", url.Values{"action": {"accept"}}, false); status != 204 {
		t.Fatalf("accept: %d %v", status, body)
	}
	if status, body := restRaw(t, w, "POST", "/3.1/lists/moderated.lists.example.org/held/2", url.Values{"action": {"reject"}, "comment": {"Off topic"}}, false); status != 204 {
		t.Fatalf("reject: %d %v", status, body)
	}
	drainSandboxQueue(t, w)
	if n := len(w.Held(DemoModerated)); n != 0 {
		t.Errorf("%d still held after accept and reject", n)
	}
	copies := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	h := copies[0].header(t)
	if h.Get("Subject") != "[Moderated] approve me" || h.Get("X-Mailman-Approved-At") == "" || h.Get("X-Mailman-Rule-Hits") != "member-moderation" {
		t.Errorf("approved copy: Subject %q, Approved-At %q, Rule-Hits %q", h.Get("Subject"), h.Get("X-Mailman-Approved-At"), h.Get("X-Mailman-Rule-Hits"))
	}
	msgs := waitInbox(t, w, DemoMember, DemoMemberPassword, 3)
	refusal := msgs[2]
	if s := refusal.header(t).Get("Subject"); s != `Request to mailing list "Moderated" rejected` {
		t.Errorf("refusal Subject %q", s)
	}
	wantBody := strings.ReplaceAll(`Your request to the moderated@lists.example.org mailing list

    Posting of your message titled "refuse me"

has been rejected by the list moderator.  The moderator gave the
following reason for rejecting your request:

"Off topic"

Any questions or comments should be directed to the list administrator
at:

    moderated-owner@lists.example.org
`, "\n", "\r\n")
	if got := refusal.body(t); got != wantBody {
		t.Errorf("refusal body:\n%s\nwant:\n%s", got, wantBody)
	}
	br := bufio.NewReader(bytes.NewReader(refusal.Raw))
	hdr, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	if ev := checks.Classify(gomail.Header{Header: message.Header{Header: hdr}}, []byte(refusal.body(t))); ev.Kind != checks.KindRejection {
		t.Errorf("listprobe reads the refusal as %q, want %q", ev.Kind, checks.KindRejection)
	}
}

func TestRESTNeedsCredentials(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	status, body := restRaw(t, w, "GET", "/3.1/lists/moderated.lists.example.org/held", nil, true)
	if status != 401 || body["title"] != "401 Unauthorized" {
		t.Errorf("without credentials: %d %v", status, body)
	}
	wrong := mailmanrest.New(mailmanrest.Options{URL: w.MailmanURL, Username: w.MailmanUsername, Password: "not-the-password"})
	_, err := wrong.Held(restContext(t), DemoModerated)
	var me *mailmanrest.Error
	if !errors.As(err, &me) || me.Status != 401 {
		t.Errorf("wrong password: %v, want a 401 MailmanError", err)
	}
	if strings.Contains(err.Error(), "not-the-password") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestRESTCustomCredentials(t *testing.T) {
	opts := DemoOptions()
	opts.MailmanUsername, opts.MailmanPassword = "admin", "s3cret"
	w := startSandboxWorld(t, opts)
	if w.MailmanUsername != "admin" || w.MailmanPassword != "s3cret" {
		t.Fatalf("credentials %q/%q", w.MailmanUsername, w.MailmanPassword)
	}
	if _, err := restClient(t, w).Held(restContext(t), DemoModerated); err != nil {
		t.Error(err)
	}
	def := mailmanrest.New(mailmanrest.Options{URL: w.MailmanURL, Username: DefaultMailmanUsername, Password: DefaultMailmanPassword})
	if _, err := def.Held(restContext(t), DemoModerated); err == nil {
		t.Error("the default credentials still work")
	}
}

func TestRESTUnknownListIs404(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)
	_, err := mm.Held(ctx, "nosuchlist@lists.example.org")
	if !mailmanrest.IsNotFound(err) {
		t.Fatalf("Held of an unknown list: %v, want 404", err)
	}
	if _, err := mm.Moderation(ctx, "nosuchlist@lists.example.org"); !mailmanrest.IsNotFound(err) {
		t.Errorf("Moderation of an unknown list: %v, want 404", err)
	}
	status, body := restRaw(t, w, "GET", "/3.1/lists/nosuchlist.lists.example.org", nil, false)
	if status != 404 || body["title"] != "404 Not Found" || body["description"] != "404 Not Found" {
		t.Errorf("GET of an unknown list: %d %v", status, body)
	}
	status, body = restRaw(t, w, "GET", "/3.1/lists/moderated.lists.example.org/held/99", nil, false)
	if status != 404 || body["title"] != "404 Not Found" {
		t.Errorf("unknown request id: %d %v", status, body)
	}
}

func TestRESTBadPatchChangesNothing(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	path := "/3.1/lists/healthy.lists.example.org/config"
	tests := []struct {
		form url.Values
		want string
	}{
		{url.Values{"default_member_action": {"hold"}, "emergency": {"maybe"}}, `Invalid Parameter "emergency": Invalid boolean value: maybe.`},
		{url.Values{"default_member_action": {"moderate"}}, `Invalid Parameter "default_member_action": Accepted Values are: hold, reject, discard, accept, defer.`},
		{url.Values{"default_member_action": {"hold"}, "no_such_setting": {"1"}}, "Unknown attribute: no_such_setting"},
		{url.Values{"fqdn_listname": {"other@lists.example.org"}}, "Read-only attribute: fqdn_listname"},
	}
	for _, tc := range tests {
		status, body := restRaw(t, w, "PATCH", path, tc.form, false)
		if status != 400 || body["description"] != tc.want {
			t.Errorf("PATCH %v: %d %v, want 400 %q", tc.form, status, body, tc.want)
		}
	}
	if p := w.Policy(DemoHealthy); p != Deliver {
		t.Errorf("a refused PATCH changed Policy to %q", p)
	}
	status, body := restRaw(t, w, "PATCH", path+"/emergency", url.Values{"emergency": {"yes"}}, false)
	if status != 204 {
		t.Fatalf("PATCH config/emergency: %d %v", status, body)
	}
	if status, body := restRaw(t, w, "GET", path+"/emergency", nil, false); status != 200 || body["emergency"] != true {
		t.Errorf("GET config/emergency: %d %v", status, body)
	}
	status, body = restRaw(t, w, "POST", "/3.1/lists/moderated.lists.example.org/held/1", url.Values{"action": {"approve"}}, false)
	if status != 400 || !strings.Contains(body["description"].(string), "Accepted Values are") {
		t.Errorf("POST a bad action: %d %v", status, body)
	}
}

func TestRESTMemberLookupAndAPI30(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	status, m := restRaw(t, w, "GET", "/3.1/lists/moderated.lists.example.org/member/"+DemoReader, nil, false)
	if status != 200 || m["email"] != DemoReader || m["role"] != "member" || m["list_id"] != "moderated.lists.example.org" {
		t.Fatalf("member lookup: %d %v", status, m)
	}
	id, _ := m["member_id"].(string)
	if len(id) != 32 || m["self_link"] != w.MailmanURL+"/members/"+id {
		t.Errorf("member_id %q, self_link %v", id, m["self_link"])
	}
	if _, has := m["moderation_action"]; has {
		t.Errorf("a member without its own action shows moderation_action: %v", m)
	}
	status, m = restRaw(t, w, "GET", "/3.0/lists/moderated.lists.example.org/moderator/"+DemoModerator, nil, false)
	if status != 200 || m["role"] != "moderator" {
		t.Fatalf("moderator lookup in API 3.0: %d %v", status, m)
	}
	if _, isNumber := m["member_id"].(float64); !isNumber {
		t.Errorf("API 3.0 member_id %v is not an integer", m["member_id"])
	}
	// The 3.0 client sets a member's action through the integer id too.
	mm30 := &testbed.MailmanAdmin{URL: strings.TrimSuffix(w.MailmanURL, "3.1") + "3.0", Username: w.MailmanUsername, Password: w.MailmanPassword}
	ctx := restContext(t)
	if err := mm30.SetMemberModeration(ctx, DemoModerated, DemoReader, "discard"); err != nil {
		t.Fatal(err)
	}
	if a, err := restClient(t, w).MemberModeration(ctx, DemoModerated, DemoReader); err != nil || a != "discard" {
		t.Errorf("after a 3.0 PATCH the 3.1 API shows %q, %v", a, err)
	}
}

func TestRESTListSetupLikeATestbed(t *testing.T) {
	w := startSandboxWorld(t, DemoOptions())
	mm, ctx := restClient(t, w), restContext(t)
	const list = "fresh@lists.example.org"
	if err := restAdmin(w).CreateList(ctx, list); err != nil {
		t.Fatalf("CreateList: %v", err)
	}
	if err := restAdmin(w).CreateList(ctx, list); err == nil || !strings.Contains(err.Error(), "Mailing list exists") {
		t.Errorf("second CreateList: %v", err)
	}
	if err := restAdmin(w).CreateList(ctx, "other@newdomain.example.org"); err != nil {
		t.Fatalf("CreateList in a new domain: %v", err)
	}
	// A new list has no members: the member's post is a non-member's.
	if _, err := mm.MemberModeration(ctx, list, DemoMember); !mailmanrest.IsNotFound(err) {
		t.Errorf("new list already has the member: %v", err)
	}
	for _, s := range []struct{ addr, role string }{{DemoReader, "member"}, {DemoMember, "member"}, {DemoModerator, "moderator"}} {
		if err := restAdmin(w).Subscribe(ctx, list, s.addr, s.role); err != nil {
			t.Fatalf("Subscribe %s as %s: %v", s.addr, s.role, err)
		}
	}
	var me *mailmanrest.Error
	if err := restAdmin(w).Subscribe(ctx, list, DemoReader, "member"); !errors.As(err, &me) || me.Status != http.StatusConflict {
		t.Errorf("second Subscribe: %v, want 409", err)
	}

	postAndSettle(t, w, list, "first post", "<fresh-1@example.org>")
	if s := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)[0].header(t).Get("Subject"); s != "[Fresh] first post" {
		t.Errorf("reader got %q", s)
	}
	if err := restAdmin(w).SetListConfig(ctx, list, map[string]any{"default_member_action": "hold"}); err != nil {
		t.Fatal(err)
	}
	postAndSettle(t, w, list, "second post", "<fresh-2@example.org>")
	if held, err := mm.Held(ctx, list); err != nil || len(held) != 1 || held[0].MessageID != "<fresh-2@example.org>" {
		t.Errorf("Held = %+v, %v", held, err)
	}
	if s := waitInbox(t, w, DemoModerator, DemoModeratorPassword, 1)[0].header(t).Get("Subject"); s != list+" post from "+DemoMember+" requires approval" {
		t.Errorf("subscribed moderator got %q", s)
	}

	if err := restAdmin(w).DeleteList(ctx, list); err != nil {
		t.Fatalf("DeleteList: %v", err)
	}
	if _, err := mm.Held(ctx, list); !mailmanrest.IsNotFound(err) {
		t.Errorf("Held of a deleted list: %v, want 404", err)
	}
	err := sandboxSubmit(t, w, DemoMember, DemoMemberPassword, DemoMember, []string{list}, sandboxPost(DemoMember, list, "too late", "<fresh-3@example.org>"))
	wantSMTPCode(t, err, 550, smtp.EnhancedCode{5, 1, 1})
	if len(w.Held(list)) != 0 || w.Policy(list) != "" {
		t.Errorf("World still knows the deleted list")
	}
}

func TestStartRejectsBadModerationOptions(t *testing.T) {
	acct := []Account{{Address: "a@example.org", Password: "p"}}
	for _, tc := range []struct {
		name string
		list List
		want string
	}{
		{"unknown nonmember action", List{Address: "l@lists.example.org", NonmemberAction: "moderate"}, `Lists[0] (l@lists.example.org): NonmemberAction: unknown action "moderate"`},
		{"bad member address", List{Address: "l@lists.example.org", Members: []string{"not an address"}}, "Lists[0].Members[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Start(Options{Accounts: acct, Lists: []List{tc.list}})
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

func TestListOptionsSetInitialMailmanSettings(t *testing.T) {
	opts := DemoOptions()
	opts.Lists[0].Emergency = true
	opts.Lists[0].NoHoldNotice = true
	opts.Lists[0].NoModeratorNotice = true
	opts.Lists[0].NonmemberAction = ActionReject
	w := startSandboxWorld(t, opts)
	got, err := restClient(t, w).Moderation(restContext(t), DemoHealthy)
	want := mailmanrest.ListModeration{DefaultMemberAction: "defer", DefaultNonmemberAction: "reject", Emergency: true}
	if err != nil || got != want {
		t.Errorf("Moderation = %+v, %v; want %+v", got, err, want)
	}
	postAndSettle(t, w, DemoHealthy, "emergency from the start", "<initial-emergency@example.org>")
	if held := w.Held(DemoHealthy); len(held) != 1 || held[0].Reason != EmergencyReason {
		t.Errorf("Held = %+v", held)
	}
	if n := len(waitInbox(t, w, DemoMember, DemoMemberPassword, 0)); n != 0 {
		t.Errorf("member got %d notices with NoHoldNotice", n)
	}
}
