package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/probe"
)

func result(list string, outcome, expected probe.Outcome) *probe.Result {
	return &probe.Result{List: list, Outcome: outcome, Expected: expected, OK: outcome == expected}
}

func TestOnceExitCodes(t *testing.T) {
	const (
		users    = "users@lists.example.org"
		announce = "announce@lists.example.org"
	)
	for _, tc := range []struct {
		name    string
		results []*probe.Result
		want    int
	}{
		{"every outcome as expected", []*probe.Result{result(users, probe.Delivered, probe.Delivered), result(announce, probe.Held, probe.Held)}, exitOK},
		{"a list holds posts it should deliver", []*probe.Result{result(users, probe.Held, probe.Delivered), result(announce, probe.Held, probe.Held)}, exitFailing},
		{"an announcement list delivers a member's post", []*probe.Result{result(announce, probe.Delivered, probe.Held)}, exitFailing},
		{"a list loses the post", []*probe.Result{result(users, probe.Lost, probe.Delivered)}, exitFailing},
		{"a reader's filter files the copy as spam", []*probe.Result{result(users, probe.Junk, probe.Delivered)}, exitFailing},
		{"junk outweighs an error", []*probe.Result{result(users, probe.Error, probe.Delivered), result(announce, probe.Junk, probe.Held)}, exitFailing},
		{"the submission fails", []*probe.Result{result(users, probe.SendFailed, probe.Delivered)}, exitFailing},
		{"listprobe could not look, the other list is fine", []*probe.Result{result(users, probe.Error, probe.Delivered), result(announce, probe.Held, probe.Held)}, exitBlind},
		{"listprobe could not look at an announcement list", []*probe.Result{result(announce, probe.Error, probe.Held)}, exitBlind},
		{"a list failure outweighs an error, in either order", []*probe.Result{result(users, probe.Error, probe.Delivered), result(announce, probe.Rejected, probe.Held)}, exitFailing},
		{"a list failure first, then an error", []*probe.Result{result(announce, probe.Rejected, probe.Held), result(users, probe.Error, probe.Delivered)}, exitFailing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := printOnce(tc.results, "text", &out); got != tc.want {
				t.Errorf("exit %d, want %d\n%s", got, tc.want, out.String())
			}
			if got := printOnce(tc.results, "json", &out); got != tc.want {
				t.Errorf("--output=json: exit %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOnceTextMarksErrorsApartFromFailures(t *testing.T) {
	var out bytes.Buffer
	printOnce([]*probe.Result{
		result("a@lists.example.org", probe.Delivered, probe.Delivered),
		result("b@lists.example.org", probe.Held, probe.Delivered),
		result("c@lists.example.org", probe.Error, probe.Delivered),
	}, "text", &out)
	for _, want := range []string{"OK   a@lists.example.org: delivered", "FAIL b@lists.example.org: held", "ERR  c@lists.example.org: error"} {
		if !strings.Contains(out.String(), want+" ") {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// message_id and sent_at name a post; when none was handed over they are
// null, while every other documented key keeps its value.
func TestOnceJSONMessageIDAndSentAtNullWhenNothingPosted(t *testing.T) {
	sent := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	latency := 0.42
	delivered := result("a@lists.example.org", probe.Delivered, probe.Delivered)
	delivered.MessageID, delivered.SentAt, delivered.Latency, delivered.Posted = "<lp1.x@example.org>", sent, &latency, true
	refused := result("b@lists.example.org", probe.SendFailed, probe.Delivered)
	refused.MessageID, refused.SentAt, refused.Reason = "<lp1.y@example.org>", sent, "smtp submit to 127.0.0.1:587: connection refused"
	blind := result("c@lists.example.org", probe.Error, probe.Delivered)
	blind.MessageID, blind.Reason = "<lp1.z@example.org>", "reader mailbox 127.0.0.1:993: connection refused"
	held := result("d@lists.example.org", probe.Held, probe.Delivered)
	held.MessageID, held.SentAt, held.Posted = "<lp1.w@example.org>", sent, true
	// Stopped before posting, with the probe's start as SentAt.
	unposted := result("e@lists.example.org", probe.Error, probe.Delivered)
	unposted.MessageID, unposted.SentAt = "<lp1.v@example.org>", sent
	// Refused by the submission server: nothing reached the list.
	refusedForGood := result("f@lists.example.org", probe.Rejected, probe.Delivered)
	refusedForGood.MessageID, refusedForGood.SentAt = "<lp1.u@example.org>", sent

	var out bytes.Buffer
	printOnce([]*probe.Result{delivered, refused, blind, held, unposted, refusedForGood}, "json", &out)
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	keys := []string{"list", "outcome", "expected", "ok", "reason", "evidence", "latency_seconds", "message_id", "sent_at"}
	wantPosted := map[string]bool{`"a@lists.example.org"`: true, `"b@lists.example.org"`: false, `"c@lists.example.org"`: false, `"d@lists.example.org"`: true, `"e@lists.example.org"`: false, `"f@lists.example.org"`: false}
	if len(doc.Results) != len(wantPosted) {
		t.Fatalf("%d results", len(doc.Results))
	}
	for _, r := range doc.Results {
		list := string(r["list"])
		if len(r) != len(keys) {
			t.Errorf("%s: keys %v, want %v", list, mapKeys(r), keys)
		}
		null := string(r["message_id"]) == "null" && string(r["sent_at"]) == "null"
		if wantPosted[list] == null {
			t.Errorf("%s: message_id %s, sent_at %s; posted: %v", list, r["message_id"], r["sent_at"], wantPosted[list])
		}
		if wantPosted[list] && string(r["sent_at"]) != `"2026-12-02T01:00:00Z"` {
			t.Errorf("%s: sent_at %s", list, r["sent_at"])
		}
	}
	if got := string(doc.Results[0]["latency_seconds"]); got != "0.42" {
		t.Errorf("latency_seconds = %s, want 0.42", got)
	}
	if got := string(doc.Results[2]["reason"]); !strings.Contains(got, "connection refused") {
		t.Errorf("reason = %s", got)
	}
}

// When the reader's IMAP server is down, listprobe cannot observe: once
// exits 3, not 1 as for a list that misbehaves.
func TestOnceExitsThreeWhenTheReaderMailboxIsDown(t *testing.T) {
	file, w := demoConfig(t, 3*time.Second)
	if err := w.StopIMAP(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org", "--list=moderated@lists.example.org", "--log.level=error")
	if code != exitBlind {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitBlind, out, errOut)
	}
	if !strings.HasPrefix(out, "ERR  ") {
		t.Errorf("output: %q", out)
	}
	// Not a terminal: no progress line.
	if strings.Contains(errOut, "lists done") {
		t.Errorf("progress on a stderr that is not a terminal: %q", errOut)
	}

	// Nothing was posted: the JSON says so.
	code, out, errOut = runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org", "--output=json", "--log.level=error")
	if code != exitBlind {
		t.Errorf("--output=json: exit %d, want %d; stderr: %s", code, exitBlind, errOut)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"message_id", "sent_at", "latency_seconds"} {
		if got := string(doc.Results[0][k]); got != "null" {
			t.Errorf("%s = %s for a probe that was never posted, want null", k, got)
		}
	}
}

func TestOnceProgressLine(t *testing.T) {
	p := newOnceProgress([]string{"a@lists.example.org", "b@lists.example.org", "c@lists.example.org", "d@lists.example.org"})
	t0 := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	if got, want := p.line(t0), "listprobe once: 0/4 lists done"; got != want {
		t.Errorf("before any start: %q, want %q", got, want)
	}
	p.started(1, t0.Add(2*time.Second))
	p.started(0, t0.Add(time.Second))
	p.started(2, t0)
	p.started(3, t0.Add(3*time.Second))
	p.finished(2)
	p.finished(2) // counted once
	if got, want := p.line(t0.Add(42*time.Second+300*time.Millisecond)), "listprobe once: 1/4 lists done; waiting 41s for a@lists.example.org and 2 more"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	p.finished(0)
	p.finished(3)
	if got, want := p.line(t0.Add(50*time.Second)), "listprobe once: 3/4 lists done; waiting 48s for b@lists.example.org"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOnceProgressRedrawsAndErasesItsLine(t *testing.T) {
	p := newOnceProgress([]string{"a@lists.example.org", "b@lists.example.org"})
	p.started(0, time.Now())
	var buf syncBuffer
	stop := p.show(&statusWriter{w: &buf}, time.Millisecond)
	for !strings.Contains(buf.String(), "0/2 lists done") {
		time.Sleep(time.Millisecond)
	}
	stop()
	got := buf.String()
	if !strings.HasPrefix(got, "\r\x1b[K") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("progress output %q does not start and end by erasing the line", got)
	}
	if strings.Contains(got, "\n") {
		t.Errorf("progress output %q adds lines", got)
	}
}

// A log line written while the progress line is drawn goes above it, whole,
// and the progress line comes back below it.
func TestStatusWriterKeepsLogLinesApartFromTheProgressLine(t *testing.T) {
	var buf bytes.Buffer
	sw := &statusWriter{w: &buf}
	sw.Write([]byte("before\n"))
	sw.setStatus("1/2 lists done")
	sw.Write([]byte("level=WARN msg=\"probe finished\"\n"))
	sw.setStatus("")
	sw.Write([]byte("after\n"))
	want := "before\n" + "\r\x1b[K1/2 lists done" + "\r\x1b[Klevel=WARN msg=\"probe finished\"\n1/2 lists done" + "\r\x1b[K" + "after\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer counts as a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Error("/dev/tty is not a terminal")
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A delivered copy's verdict is one short line under its result, in text;
// in JSON the "authentication" object with one field per check.
func TestOnceShowsTheCopysAuthentication(t *testing.T) {
	delivered := result("a@lists.example.org", probe.Delivered, probe.Delivered)
	delivered.Authentication = probe.AuthenticationOf(&authn.Checks{
		DKIM:  authn.Check{Result: authn.ResultPass, Domain: "lists.example.org"},
		SPF:   authn.Check{Result: authn.ResultTempError, Domain: "lists.example.org"},
		DMARC: authn.Check{Result: authn.ResultFail, Domain: "reject-poster.test"},
		ARC:   authn.Check{Result: authn.ResultNone}, ListID: authn.Check{Result: authn.ResultPass, Domain: "a.lists.example.org"},
		OneClickUnsubscribe: authn.Check{Result: authn.ResultNone},
	})
	var out bytes.Buffer
	printOnce([]*probe.Result{delivered}, "text", &out)
	want := "     authentication: dkim=pass (lists.example.org) spf=none/temperror dmarc=fail (reject-poster.test) arc=none list_id=pass (a.lists.example.org) one_click_unsubscribe=none\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("text output:\n%s\nwant its last line:\n%s", out.String(), want)
	}
	out.Reset()
	printOnce([]*probe.Result{delivered}, "json", &out)
	var doc struct {
		Results []struct {
			Authentication map[string]map[string]string `json:"authentication"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	a := doc.Results[0].Authentication
	if len(a) != 6 || a["dmarc"]["result"] != "fail" || a["dmarc"]["domain"] != "reject-poster.test" ||
		a["spf"]["result"] != "none" || a["spf"]["detail"] != "temperror" || a["one_click_unsubscribe"]["result"] != "none" {
		t.Errorf("authentication %v", a)
	}
}

// In a pipe or a log, once's output is its results: without --log.level it
// logs only warnings and errors; --log.level=info brings the rest back.
func TestOnceInAPipeLogsOnlyWarningsAndErrors(t *testing.T) {
	file, _ := demoConfig(t, 20*time.Second)
	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org")
	if code != 0 || !strings.HasPrefix(out, "OK   healthy@lists.example.org: delivered in ") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if errOut != "" {
		t.Errorf("once in a pipe wrote to stderr:\n%s", errOut)
	}
	code, _, errOut = runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org", "--log.level=info")
	if code != 0 || !strings.Contains(errOut, "level=INFO") {
		t.Errorf("--log.level=info: exit %d, no info lines on stderr:\n%s", code, errOut)
	}
}
