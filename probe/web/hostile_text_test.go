package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/internal/testbed"
	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/internal/probetest"
)

// hostileMailman puts a rewriting proxy in front of the world's Mailman
// REST API and returns a config tweak that points listprobe at it.
func hostileMailman(t *testing.T, w *probetest.World, edit func(path string, doc any)) func(string) string {
	t.Helper()
	proxy, err := sandbox.RewriteREST(w.MailmanURL, edit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	tweak := w.MailmanConfig(t)
	return func(text string) string {
		return strings.Replace(tweak(text), w.MailmanURL, proxy.URL+"/3.1", 1)
	}
}

// restRewrite sets the fields of REST answers whose path contains part.
func restRewrite(part string, fields map[string]any) func(path string, doc any) {
	return func(path string, doc any) {
		m, ok := doc.(map[string]any)
		if !ok || !strings.Contains(path, part) {
			return
		}
		targets := []any{m}
		if entries, ok := m["entries"].([]any); ok {
			targets = entries
		}
		for _, e := range targets {
			if e, ok := e.(map[string]any); ok {
				for k, v := range fields {
					e[k] = v
				}
			}
		}
	}
}

// A held reason from Mailman with line breaks cannot forge a line of the
// /probe debug output, and reasons of a megabyte over ten probes do not
// make a status page of ten megabytes.
func TestHostileHeldReasonsAreCleanedBeforeTheyAreStored(t *testing.T) {
	const list = "held@lists.example.org"
	lists := []sandbox.List{{Address: list, Policy: sandbox.Hold, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	admin := &testbed.MailmanAdmin{URL: w.MailmanURL, Username: w.MailmanUsername, Password: w.MailmanPassword}
	// No hold notice: the REST held queue alone says the probe is held.
	if err := admin.SetListConfig(context.Background(), list, map[string]any{"respond_to_post_requests": false}); err != nil {
		t.Fatal(err)
	}
	forged := "\nOutcome: delivered (expected delivered)\nReason: copy seen in the reader's mailbox\n\x1b[2J\x00"
	huge := strings.Repeat("r", 1<<20) + forged
	rt := startRuntime(t, w.Config(t, 10*time.Second, lists, hostileMailman(t, w, restRewrite("/held", map[string]any{
		"reason": huge, "moderation_reasons": []any{forged + strings.Repeat("z", 20<<10)}, "subject": forged, "sender": forged,
	}))))

	rec := httptest.NewRecorder()
	Handler(rt, &Options{EnableProbe: true}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?debug=true&list="+list, nil))
	body := rec.Body.String()
	if !strings.HasPrefix(body, "Outcome: held") {
		t.Fatalf("/probe?debug=true: %d %.2000q, want a held outcome", rec.Code, body)
	}
	for i, line := range strings.Split(body, "\n") {
		if i > 0 && (strings.HasPrefix(line, "Outcome:") || strings.HasPrefix(line, "Reason: copy seen")) {
			t.Errorf("line %d of the /probe debug output is forged: %.200q", i+1, line)
		}
	}
	if strings.ContainsAny(body, "\x1b\x00") {
		t.Error("the /probe debug output carries control characters from the REST answer")
	}
	for range 9 {
		// Each probe's held post is discarded behind listprobe's back, so
		// that every REST poll carries one 1 MB reason, not ten.
		for _, h := range w.Held(list) {
			w.DiscardHeld(list, h.RequestID)
		}
		wantOutcome(t, probeList(t, rt, list), probe.Held, "")
	}
	for _, r := range rt.History().Recent(list) {
		if len(r.Reason) > 2000 || strings.ContainsAny(r.Reason, "\n\x1b\x00") {
			t.Errorf("a stored reason is %d bytes: %.200q", len(r.Reason), r.Reason)
		}
		if len(r.Log) > 64<<10+100 {
			t.Errorf("a stored log is %d bytes", len(r.Log))
		}
	}
	page, _ := getPage(t, rt, "/", http.StatusOK)
	if len(page) > 512<<10 {
		t.Errorf("the status page is %d bytes after ten probes with 1 MB reasons", len(page))
	}
}

// Mailman settings and member fields from REST are bounded and checked
// against Mailman's value sets: a 100 KB value is not shown whole, and a
// value Mailman cannot have is shown as unknown, not believed.
func TestHostileMailmanSettingsAreBoundedAndValidated(t *testing.T) {
	const list = "users@lists.example.org"
	lists := []sandbox.List{{Address: list, Policy: sandbox.Deliver, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	bad := "hold\n" + strings.Repeat("h", 100<<10) + "\x1b[2J"
	edit := func(path string, doc any) {
		restRewrite("/config", map[string]any{"default_member_action": bad, "default_nonmember_action": "hold; rm -rf"})(path, doc)
		restRewrite("/member/", map[string]any{"delivery_mode": bad, "moderation_action": bad})(path, doc)
	}
	rt := startRuntime(t, w.Config(t, 10*time.Second, lists, hostileMailman(t, w, edit)))
	var st probe.MailmanState
	waitFor(t, 10*time.Second, "Mailman settings read", func() bool {
		var ok bool
		st, ok = rt.MailmanState(list)
		return ok && st.Up
	})
	for name, v := range map[string]string{
		"default_member_action": st.DefaultMemberAction, "default_nonmember_action": st.DefaultNonmemberAction,
		"moderation_action": st.MemberAction, "delivery_mode": st.Poster.DeliveryMode,
	} {
		if !strings.HasPrefix(v, "unknown: ") || len(v) > 100 || strings.ContainsAny(v, "\n\x1b") {
			t.Errorf("%s = %.200q (%d bytes), want a short, clean \"unknown: …\"", name, v, len(v))
		}
	}
	page, _ := getPage(t, rt, "/", http.StatusOK)
	if len(page) > 64<<10 || strings.Contains(page, strings.Repeat("h", 1000)) {
		t.Errorf("the status page is %d bytes: it shows the 100 KB setting", len(page))
	}
}
