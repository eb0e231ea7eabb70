package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe/config"
)

// runCmd runs listprobe with args and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// demoConfig starts the demo mail world and writes a config for it.
func demoConfig(t *testing.T, timeout time.Duration) (string, *sandbox.World) {
	t.Helper()
	opts := sandbox.DemoOptions()
	w, err := sandbox.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	file, err := writeDemoConfig(t.TempDir(), w, opts, "@every 1h", timeout)
	if err != nil {
		t.Fatal(err)
	}
	return file, w
}

func TestOnceHealthyListExitsZero(t *testing.T) {
	file, _ := demoConfig(t, 20*time.Second)
	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org", "--log.level=error")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "OK   healthy@lists.example.org: delivered in ") {
		t.Errorf("output: %q", out)
	}
}

// The deploy pipeline's check: a list that holds member posts fails it.
func TestOnceJSONAndExitOneWhenAListMisbehaves(t *testing.T) {
	file, _ := demoConfig(t, 5*time.Second)
	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org", "--list=moderated@lists.example.org", "--list=blackhole@lists.example.org", "--output=json", "--log.level=error")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// Exactly the documented shape.
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(doc.Results) != 3 {
		t.Fatalf("%d results", len(doc.Results))
	}
	keys := []string{"list", "outcome", "expected", "ok", "reason", "evidence", "latency_seconds", "message_id", "sent_at"}
	want := map[string]struct {
		outcome string
		ok      bool
	}{
		"healthy@lists.example.org":   {"delivered", true},
		"moderated@lists.example.org": {"held", false},
		"blackhole@lists.example.org": {"lost", false},
	}
	for _, r := range doc.Results {
		// A delivered result adds the hops of its copy's Received chain.
		n := len(keys)
		if string(r["outcome"]) == `"delivered"` {
			n += 2
			checkDeliveredJSON(t, r)
		}
		if len(r) != n {
			t.Errorf("result has keys %v, want %v", mapKeys(r), keys)
		}
		for _, k := range keys {
			if _, ok := r[k]; !ok {
				t.Errorf("result lacks %q", k)
			}
		}
		var list, outcome string
		var ok bool
		json.Unmarshal(r["list"], &list)
		json.Unmarshal(r["outcome"], &outcome)
		json.Unmarshal(r["ok"], &ok)
		if w := want[list]; w.outcome != outcome || w.ok != ok {
			t.Errorf("%s: outcome %s ok %v, want %s %v", list, outcome, ok, w.outcome, w.ok)
		}
		latencyNull := string(r["latency_seconds"]) == "null"
		if latencyNull != (outcome != "delivered") {
			t.Errorf("%s: latency_seconds %s with outcome %s", list, r["latency_seconds"], outcome)
		}
		var sentAt time.Time
		if err := json.Unmarshal(r["sent_at"], &sentAt); err != nil || sentAt.IsZero() {
			t.Errorf("sent_at %s: %v", r["sent_at"], err)
		}
	}
	var moderated map[string]json.RawMessage
	for _, r := range doc.Results {
		if strings.Contains(string(r["list"]), "moderated") {
			moderated = r
		}
	}
	if !strings.Contains(string(moderated["reason"]), "The message comes from a moderated member") {
		t.Errorf("held reason = %s", moderated["reason"])
	}
}

func mapKeys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOnceUsageAndConfigErrorsExitTwo(t *testing.T) {
	file, _ := demoConfig(t, 5*time.Second)
	for name, args := range map[string][]string{
		"unknown list":  {"once", "--config.file=" + file, "--list=nope@lists.example.org"},
		"missing file":  {"once", "--config.file=/nonexistent/listprobe.yml"},
		"bad flag":      {"once", "--config.file=" + file, "--output=xml"},
		"no subcommand": {},
		"bad config":    {"once", "--config.file=../../probe/config/testdata/bad-cron.yml"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCmd(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, errOut)
			}
			if errOut == "" {
				t.Error("no explanation on stderr")
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	code, out, _ := runCmd(t, "check-config", "--config.file=../../probe/config/testdata/good.yml")
	if code != 0 || !strings.Contains(out, "valid: 2 lists") {
		t.Errorf("good config: exit %d, %q", code, out)
	}
	// Which evidence each list can get (issue 15).
	if !strings.Contains(out, "lists[0] ") || !strings.Contains(out, "only unauthenticated evidence") {
		t.Errorf("good config: check-config does not say which lists get only unauthenticated evidence: %q", out)
	}
	code, _, errOut := runCmd(t, "check-config", "--config.file=../../probe/config/testdata/bad-unknown-account.yml")
	if code != 2 || errOut != "../../probe/config/testdata/bad-unknown-account.yml:12: lists[0].poster: unknown account \"membr\"; did you mean \"member\"? (known: member, reader)\n" {
		t.Errorf("bad config: exit %d, %q", code, errOut)
	}
}

// The packaged config names its secrets as systemd credentials, which exist
// only inside the service: check-config run by hand says so and points to
// --config.check-secrets=false, with which it says valid.
func TestCheckConfigOfThePackagedConfig(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	const file = "../../deploy/systemd/listprobe.yml"
	code, _, errOut := runCmd(t, "check-config", "--config.file="+file)
	if code != 2 || !strings.Contains(errOut, "outside it, check the config with --config.check-secrets=false") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := runCmd(t, "check-config", "--config.check-secrets=false", "--config.file="+file)
	if want := file + ": valid: 2 lists, 2 accounts (secrets not read: --config.check-secrets=false)\n" +
		"lists[0] team@lists.example.org: notices believed by DKIM or ARC of lists.example.org; Mailman REST held queue (main); copies unauthenticated: a forged copy would count (name the list server's hosts and receiving server, authserv_ids or signing_domains in a list_server, or set copies: authenticated there if lists.example.org DKIM-signs its copies)\n" +
		"lists[1] announce@lists.example.org: notices believed by DKIM or ARC of lists.example.org; Mailman REST held queue (main); copies unauthenticated: a forged copy would count (name the list server's hosts and receiving server, authserv_ids or signing_domains in a list_server, or set copies: authenticated there if lists.example.org DKIM-signs its copies)\n"; code != 0 || out != want || errOut != "" {
		t.Errorf("--config.check-secrets=false: exit %d, stdout %q, stderr %q; want stdout %q", code, out, errOut, want)
	}
}

// check-config reports every error of the file at once, in line order,
// then how many there are.
func TestCheckConfigReportsEveryError(t *testing.T) {
	file := "../../probe/config/testdata/bad-several.yml"
	code, out, errOut := runCmd(t, "check-config", "--config.file="+file)
	want := strings.Join([]string{
		file + `:2: global.schedual: unknown field; did you mean "schedule"?`,
		file + `:7: accounts.member.smtp.tls: "ssl" is not tls, starttls or none`,
		file + `:13: lists[0].poster: unknown account "membr"; did you mean "member"? (known: member, reader)`,
		file + `:15: lists[0].timeout: "240" is not a duration like 90s or 5m`,
		file + `:19: lists[1].expect: "bounced" is not delivered or held`,
		file + `:20: lists[1].moderatr: unknown field; did you mean "moderator"?`,
		file + `: 6 errors`,
	}, "\n") + "\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
}

// A valid config that turns off certificate verification passes, with a
// warning naming the line and field.
func TestCheckConfigWarns(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"signing.key", "member.password", "reader.password"} {
		data, err := os.ReadFile(filepath.Join("../../probe/config/testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), data, 0o600)
	}
	good, err := os.ReadFile("../../probe/config/testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(good), "tls: tls, username: probe@example.org", "tls: tls, insecure_skip_verify: true, username: probe@example.org", 1)
	file := filepath.Join(dir, "listprobe.yml")
	os.WriteFile(file, []byte(text), 0o600)
	code, out, errOut := runCmd(t, "check-config", "--config.file="+file)
	want := file + ":10: warning: accounts.member.imap.insecure_skip_verify: the server's certificate is not verified: anyone on the path can read the password\n"
	if code != 0 || !strings.Contains(out, "valid: 2 lists") || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "listprobe, version ") || !strings.Contains(out, "go version: go") {
		t.Errorf("exit %d, %q", code, out)
	}
}

func TestExplainJSON(t *testing.T) {
	dir := t.TempDir()
	cfgFile, _ := demoConfig(t, 5*time.Second)
	plain := filepath.Join(dir, "plain.eml")
	os.WriteFile(plain, []byte("From: a@example.org\r\nTo: b@example.org\r\nSubject: hello\r\n\r\nhi\r\n"), 0o600)
	code, out, errOut := runCmd(t, "explain", "--config.file="+cfgFile, "--output=json", plain)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Messages []explained `json:"messages"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(doc.Messages) != 1 || doc.Messages[0].Kind != "unrelated" || doc.Messages[0].Signature != "absent" {
		t.Errorf("explain = %+v", doc.Messages)
	}
	if code, _, _ := runCmd(t, "explain", filepath.Join(dir, "missing.eml")); code != 2 {
		t.Errorf("unreadable file: exit %d, want 2", code)
	}
}

// startServe runs serve on a free loopback port until the test ends and
// returns a GET function for its endpoints, once it is ready.
func startServe(t *testing.T, file string, flags ...string) (base string, get func(path string) (int, string)) {
	t.Helper()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var code int
	go func() {
		defer wg.Done()
		args := append([]string{"serve", "--config.file=" + file, "--web.listen-address=" + addr, "--log.level=error"}, flags...)
		code = run(ctx, args, io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if code != 0 {
			t.Errorf("serve exit %d", code)
		}
	})
	base = "http://" + addr
	get = func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status, _ := get("/-/ready"); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base, get
}

// Without --web.enable-probe and --web.enable-lifecycle nothing a request
// can send makes listprobe post or reload: a GET from anywhere (an <img> tag
// on another site) must not mail a list's subscribers.
func TestServeRefusesProbeAndReloadUnlessEnabled(t *testing.T) {
	file, w := demoConfig(t, 5*time.Second)
	base, get := startServe(t, file)
	for _, path := range []string{"/probe?list=healthy@lists.example.org", "/probe?list=healthy@lists.example.org&debug=true"} {
		if status, body := get(path); status != http.StatusForbidden || !strings.Contains(body, "--web.enable-probe") {
			t.Errorf("GET %s: %d %s, want 403 naming --web.enable-probe", path, status, body)
		}
	}
	resp, err := http.Post(base+"/-/reload", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /-/reload: %d, want 403", resp.StatusCode)
	}
	// An enabled /probe answers only once the copy arrived: had the
	// requests posted, the reader would hold the copies by now.
	if msgs, err := w.Messages(sandbox.DemoReader); err != nil || len(msgs) != 0 {
		t.Errorf("the reader got %d messages from refused requests (%v)", len(msgs), err)
	}
}

// checkServeEndpoints checks a freshly started serve of the demo config:
// healthy, its lists on the page, their series at zero, metrics that lint,
// no secret anywhere, the configuration loaded.
func checkServeEndpoints(t *testing.T, get func(string) (int, string)) {
	t.Helper()
	if status, _ := get("/-/healthy"); status != 200 {
		t.Errorf("/-/healthy %d", status)
	}
	status, page := get("/")
	if status != 200 || !strings.Contains(page, "healthy@lists.example.org") || !strings.Contains(page, "moderated@lists.example.org") {
		t.Errorf("status page %d: %s", status, page)
	}
	status, metrics := get("/metrics")
	if status != 200 || !strings.Contains(metrics, `listprobe_probes_total{list="healthy@lists.example.org",outcome="send_failed"} 0`) {
		t.Errorf("/metrics %d lacks zeroed series", status)
	}
	if problems, err := promlint.New(strings.NewReader(metrics)).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", err, problems)
	}
	promtoolCheckMetrics(t, metrics)
	for _, secret := range []string{"member-demo-password", "reader-demo-password"} {
		if strings.Contains(page+metrics, secret) {
			t.Errorf("%s shows on a web page", secret)
		}
	}
	if !strings.Contains(metrics, "listprobe_config_last_reload_successful 1") {
		t.Error("reload gauge not 1 after start")
	}
}

// serve end to end: endpoints, a reload that fails keeps the old config.
func TestServeEndpointsAndReload(t *testing.T) {
	file, _ := demoConfig(t, 5*time.Second)
	base, get := startServe(t, file, "--web.enable-probe", "--web.enable-lifecycle")
	checkServeEndpoints(t, get)

	// Break the config: reload fails, the old one keeps running.
	good, _ := os.ReadFile(file)
	os.WriteFile(file, []byte("global: {unknown: 1}\n"), 0o600)
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `global.unknown: unknown field`) {
		t.Errorf("failed reload answered %d %s", resp.StatusCode, body)
	}
	_, metrics := get("/metrics")
	if !strings.Contains(metrics, "listprobe_config_last_reload_successful 0") || !strings.Contains(metrics, `list="healthy@lists.example.org"`) {
		t.Error("after a failed reload: gauge not 0 or the old lists are gone")
	}
	// Fix it, dropping a list, and send SIGHUP: the reload succeeds and
	// the list's series go.
	fixed := regexp.MustCompile(`(?m)^  - address: blackhole@lists.example.org\n(    .*\n)*`).ReplaceAllString(string(good), "")
	if fixed == string(good) {
		t.Fatal("could not remove the blackhole list from the demo config")
	}
	os.WriteFile(file, []byte(fixed), 0o600)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, metrics = get("/metrics")
		if strings.Contains(metrics, "listprobe_config_last_reload_successful 1") && !strings.Contains(metrics, "blackhole@") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the fixed config")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// And POST /-/reload of a good config answers 200.
	resp, err = http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("good reload answered %d", resp.StatusCode)
	}

	// /probe runs one probe now (blackbox's multi-target pattern).
	status, out := get("/probe?list=healthy@lists.example.org")
	if status != 200 || !strings.Contains(out, "listprobe_probe_success 1") || !strings.Contains(out, `listprobe_probe_outcome{outcome="delivered"} 1`) {
		t.Errorf("/probe: %d %s", status, out)
	}
	status, out = get("/probe?list=moderated@lists.example.org&debug=true")
	if status != 200 || !strings.Contains(out, "Outcome: held") || !strings.Contains(out, "posting probe") {
		t.Errorf("/probe debug: %d %s", status, out)
	}
	if status, _ := get("/probe?list=nope@example.org"); status != 400 {
		t.Errorf("/probe of an unknown list: %d", status)
	}
}

func TestExplainVerifiesProbeSignatures(t *testing.T) {
	cfgFile, _ := demoConfig(t, 5*time.Second)
	cfg, err := config.LoadFile(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, s *token.Signer) (string, string) {
		tok := s.NewToken("healthy@lists.example.org", time.Now())
		raw, err := compose.Message(compose.Probe{From: "member@example.org", List: "healthy@lists.example.org", Token: s.Encode(tok), Date: time.Now()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, raw, 0o600)
		return p, tok.ID
	}
	genuine, id := write("genuine.eml", cfg.Signer())
	other, _ := token.NewSigner([]byte("somebody-elses-key-123456"))
	forged, _ := write("forged.eml", other)

	code, out, _ := runCmd(t, "explain", "--config.file="+cfgFile, genuine, forged)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output: %q", out)
	}
	if !strings.Contains(lines[0], "probe_copy") || !strings.Contains(lines[0], "signature=valid") || !strings.Contains(lines[0], "probe="+id) || !strings.Contains(lines[0], "list=healthy@lists.example.org") {
		t.Errorf("genuine: %s", lines[0])
	}
	if !strings.Contains(lines[1], "signature=invalid") {
		t.Errorf("forged: %s", lines[1])
	}
	// Without the key the signature cannot be checked.
	_, out, _ = runCmd(t, "explain", genuine)
	if !strings.Contains(out, "signature=unchecked") {
		t.Errorf("no key: %s", out)
	}
}

func TestHelpOfEveryCommandExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "once", "check-config", "explain", "demo", "version"} {
		code, _, errOut := runCmd(t, cmd, "--help")
		if code != 0 || !strings.Contains(errOut, "usage: listprobe "+cmd) {
			t.Errorf("%s --help: exit %d, %q", cmd, code, errOut)
		}
	}
}

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// promtoolCheckMetrics runs Prometheus' own linter, `promtool check
// metrics`, on an exposition (Debian package prometheus; required in CI).
func promtoolCheckMetrics(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but promtool is missing: apt-get install prometheus")
		}
		t.Log("promtool not installed: skipping promtool check metrics")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// once against a reader mailbox whose port refuses connections says so at
// once, instead of retrying for half a minute: the outcome is error (exit
// 3, listprobe could not observe), and nothing was posted.
func TestOnceFailsFastWhenTheReaderIsRefused(t *testing.T) {
	file, _ := demoConfig(t, 4*time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i := strings.Index(text, "  reader:\n")
	j := i + strings.Index(text[i:], "imap:")
	k := j + strings.Index(text[j:], "address: ")
	end := k + strings.Index(text[k:], ",")
	text = text[:k] + fmt.Sprintf("address: %q", refused) + text[end:]
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, errOut := runCmd(t, "once", "--config.file="+file, "--list=healthy@lists.example.org", "--output=json", "--log.level=error")
	took := time.Since(start)
	if code != 3 {
		t.Fatalf("exit %d, want 3\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, `"message_id": null`) {
		t.Errorf("output does not name the refusal or says something was posted:\n%s", out)
	}
	// The reader's wait is 30 s when failures may heal; a refused port
	// must not cost it.
	if took > 20*time.Second {
		t.Errorf("once took %s against a refused port", took)
	}
}

// On a busy port, demo and serve say so first, with the flag that changes
// it, instead of printing the status page's URL and failing afterwards.
func TestBusyPortIsReportedBeforeAnything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, args := range [][]string{
		{"demo", "--web.listen-address=" + addr},
		{"serve", "--config.file=../../probe/config/testdata/good.yml", "--web.listen-address=" + addr},
	} {
		code, out, errOut := runCmd(t, args...)
		if code != exitFailing || out != "" || !strings.Contains(errOut, "cannot listen on "+addr+": bind: address already in use; choose another address with --web.listen-address") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", args[0], code, out, errOut)
		}
	}
}

// checkDeliveredJSON checks what a delivered result adds to once's JSON:
// the copy's Received hops and its authentication verdict.
func checkDeliveredJSON(t *testing.T, r map[string]json.RawMessage) {
	t.Helper()
	var auth map[string]struct{ Result, Domain string }
	if err := json.Unmarshal(r["authentication"], &auth); err != nil || len(auth) != 6 || auth["list_id"].Result != "pass" {
		t.Errorf("delivered result: authentication %s (%v), want the copy's six checks", r["authentication"], err)
	}
	var hops []map[string]json.RawMessage
	if err := json.Unmarshal(r["hops"], &hops); err != nil || len(hops) == 0 {
		t.Errorf("delivered result: hops %s (%v), want the copy's Received hops", r["hops"], err)
	}
	for _, h := range hops {
		for _, k := range []string{"by", "with", "at", "seconds"} {
			if _, ok := h[k]; !ok {
				t.Errorf("hop %v lacks %q", mapKeys(h), k)
			}
		}
	}
}
