package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// hostileReason is what a hostile or broken Mailman could give as a held
// post's reason: 20 KB with line breaks that would start forged result
// lines, terminal escapes (clear screen, window title), a carriage return
// and NUL.
var hostileReason = strings.Repeat("x", 10<<10) +
	"\nOK   other@lists.example.org: delivered (expected delivered): copy seen\r\n" +
	"\x1b[2J\x1b]0;pwned\x07\x00\u009b31m\u202e" + strings.Repeat("y", 10<<10)

// heldReasonRewriter sets every held post's reason to reason.
func heldReasonRewriter(reason string) func(path string, doc any) {
	return func(path string, doc any) {
		m, ok := doc.(map[string]any)
		if !ok || !strings.Contains(path, "/held") {
			return
		}
		entries, _ := m["entries"].([]any)
		if _, single := m["request_id"]; single {
			entries = append(entries, m)
		}
		for _, e := range entries {
			if e, ok := e.(map[string]any); ok {
				e["reason"] = reason
				e["moderation_reasons"] = []any{reason}
				e["subject"] = reason
			}
		}
	}
}

// A Mailman that answers a held post with a hostile reason cannot forge a
// line of `once`'s output or send a terminal an escape sequence: the reason
// is cleaned (one line, no control characters, cut) before it is stored,
// and the output escapes whatever control character is left.
func TestOnceOutputCannotBeForgedByAHeldReason(t *testing.T) {
	w := startSandboxWorld(t)
	l := newE2EList(t, w, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
	l.listDefaultApplies(t)
	proxy, err := sandbox.RewriteREST(w.Get(t, "MAILMAN_URL"), heldReasonRewriter(hostileReason))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	file := l.config(t, 20*time.Second, true, "")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), w.Get(t, "MAILMAN_URL"), proxy.URL+"/3.1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--log.level=warn")
	if code != exitFailing {
		t.Errorf("once exit %d, want %d (held)\nstderr: %.3000q", code, exitFailing, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "FAIL "+l.address+": held") {
		t.Errorf("once printed %d lines, want one FAIL line for the held list:\n%.3000q", len(lines), out)
	}
	for _, s := range []string{out, errOut} {
		if strings.ContainsAny(s, "\x1b\x07\x00\r\u009b\u202e") {
			t.Errorf("once wrote a control character: %.3000q", s)
		}
	}
	if len(out) > 4<<10 {
		t.Errorf("once wrote %d bytes for one list: the reason is not cut", len(out))
	}

	code, out, _ = runCmd(t, "once", "--config.file="+file, "--output=json", "--log.level=warn")
	var doc struct{ Results []onceResult }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("once --output=json: exit %d, %v: %.2000s", code, err, out)
	}
	r := doc.Results[0]
	if r.Outcome != "held" || strings.ContainsAny(r.Reason, "\n\r\x1b\x00\x07\u009b") || len(r.Reason) > 2000 {
		t.Errorf("JSON result: outcome %s, reason of %d bytes %.500q; want held with one cut, clean line", r.Outcome, len(r.Reason), r.Reason)
	}
	if strings.Contains(out, "\u009b") || strings.Contains(out, "\x1b") {
		t.Error("the JSON output carries a raw control character")
	}
}

// explain names saved messages a stranger may have sent, by file names
// anyone may have chosen: neither reaches the terminal with its control
// characters, in text or JSON.
func TestExplainOutputEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("../../checks/testdata/evidence/bounce-postfix-unknown-list.eml")
	if err != nil {
		t.Fatal(err)
	}
	hostile := strings.Replace(string(raw), "Subject: ", "Subject: \x1b]0;pwned\x07\x1b[2J\r\nX-Evil: \u009b31m ", 1)
	file := dir + "/evil\x1b[2J\rOK.eml"
	if err := os.WriteFile(file, []byte(hostile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, output := range []string{"text", "json"} {
		_, out, errOut := runCmd(t, "explain", "--output="+output, file)
		for _, s := range []string{out, errOut} {
			if strings.ContainsAny(s, "\x1b\x07\r\u009b") {
				t.Errorf("explain --output=%s wrote a control character: %q", output, s)
			}
		}
		if output == "json" && !json.Valid([]byte(out)) {
			t.Errorf("explain --output=json is not JSON after escaping: %q", out)
		}
	}
}
