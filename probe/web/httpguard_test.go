package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
)

// probesRun is how many probes of list the service recorded.
func probesRun(svc *probe.Service, list string) int { return len(svc.History().Recent(list)) }

// Only GET /probe posts. HEAD is what link checkers, monitoring checks and
// browsers' prefetches send, and the mux serves it with the GET route; no
// other method may make listprobe post to a list's subscribers either.
func TestOnlyGETProbePosts(t *testing.T) {
	lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 5*time.Second, lists, nil))
	srv := httptest.NewServer(Handler(svc, &Options{EnableProbe: true}))
	defer srv.Close()

	for _, method := range []string{http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "PROPFIND"} {
		req, err := http.NewRequest(method, srv.URL+"/probe?list=healthy@lists.example.org", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /probe: %s, want 405 Method Not Allowed", method, resp.Status)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s /probe: no X-Content-Type-Options: nosniff", method)
		}
	}
	if n := probesRun(svc, "healthy@lists.example.org"); n != 0 {
		t.Fatalf("%v probes ran for requests that were not GET", n)
	}
	if msgs, err := w.Messages(testReader); err != nil || len(msgs) != 0 {
		t.Fatalf("the reader got %d messages (%v) from requests that were not GET", len(msgs), err)
	}
	// GET still probes, and its debug output is not sniffed.
	resp, err := http.Get(srv.URL + "/probe?debug=true&list=healthy@lists.example.org")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || probesRun(svc, "healthy@lists.example.org") != 1 {
		t.Errorf("GET /probe: %s and %v probes, want 200 and one probe", resp.Status, probesRun(svc, "healthy@lists.example.org"))
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("/probe?debug=true is served without X-Content-Type-Options: nosniff")
	}
}

// Every answer, the plain-text ones included, tells the browser not to
// sniff its type.
func TestEveryAnswerIsNoSniff(t *testing.T) {
	svc := probe.NewService("", testLogger(t), nil)
	srv := httptest.NewServer(Handler(svc, &Options{EnableProbe: true}))
	defer srv.Close()
	for _, path := range []string{"/", "/-/healthy", "/-/ready", "/metrics", "/-/reload", "/probe", "/probe?list=x@example.org", "/result?id=1", "/nothing"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s (%s): no X-Content-Type-Options: nosniff", path, resp.Status)
		}
	}
}

// A 400 answer names what was wrong without echoing a megabyte of query
// string, or its line breaks.
func TestProbeErrorDoesNotEchoTheQuery(t *testing.T) {
	lists := []sandbox.List{{Address: "healthy@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 5*time.Second, lists, nil))
	huge := strings.Repeat("A", 1<<20) + "\nOutcome: delivered\n@lists.example.org"
	rec := httptest.NewRecorder()
	Handler(svc, &Options{EnableProbe: true}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?debug=true&list="+url.QueryEscape(huge), nil))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("unknown huge list: %d, want 400", rec.Code)
	}
	body := rec.Body.String()
	if len(body) > 1024 {
		t.Errorf("the 400 answer is %d bytes: it echoes the query", len(body))
	}
	if strings.Count(body, "\n") > 1 || strings.Contains(body, "\nOutcome:") {
		t.Errorf("the 400 answer carries the query's line breaks: %q", checks.Truncate(body, 300))
	}
	if !strings.Contains(body, "not configured") {
		t.Errorf("the 400 answer %q does not say why", checks.Truncate(body, 300))
	}
}

// The web server's write timeout does not cut off /probe, whose answer
// waits for the probe's outcome: its deadline is the list's timeout.
func TestProbeAnswerOutlastsTheWriteTimeout(t *testing.T) {
	lists := []sandbox.List{{Address: "slow@lists.example.org", Policy: sandbox.Delay, Delay: 1500 * time.Millisecond}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	svc := startRuntime(t, w.Config(t, 10*time.Second, lists, nil))
	srv := httptest.NewUnstartedServer(Handler(svc, &Options{EnableProbe: true}))
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/probe?debug=true&list=slow@lists.example.org")
	if err != nil {
		t.Fatalf("GET /probe of a list slower than the write timeout: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(body), "Outcome: delivered") {
		t.Fatalf("GET /probe: %s %q %v, want the delivered outcome", resp.Status, body, err)
	}
}
