package sympaarchive

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// wwsympa is a loopback HTTP server that answers as WWSympa 6.2.70 does
// (facts from Sympa's wwsympa.fcgi, confirm_action.tt2, crash.tt2 and
// error.tt2, and from the testbed's real Sympa): arcsearch_id redirects to
// the post's page once the session confirmed "I am not a spammer"; before,
// it shows that form; a search that finds nothing crashes (6.2.70) or shows
// the archive's page with an error (newer).
type wwsympa struct {
	mu       sync.Mutex
	list     string
	archived map[string]string // Message-ID -> msgNNNNN.html
	sessions map[string]string // session id -> "", "pending" (shown the form) or "confirmed"
	csrf     string
	// newer: answer a missed search as 6.2.71 and later do: "arc" on
	// to the archive's latest month (a redirect), or, for a list without
	// archives yet, the list's info page; "arcpage" the archive's page.
	newer string
	// forget: keep no session (every request gets a new one).
	forget bool
	// private: the list's archive is not public (web_access private).
	private bool
	// pageHost is the host of the post's page in the redirect (Sympa's
	// wwsympa_url), which need not be the one listprobe reaches it by.
	pageHost string
	requests []string
}

func newWWSympa(list string) *wwsympa {
	return &wwsympa{list: list, archived: map[string]string{}, sessions: map[string]string{}, csrf: "0123abcd", pageHost: "lists.example.org"}
}

const pageHead = `<!DOCTYPE html>
<html class="no-js" lang="en" xml:lang="en">
    <!-- main.tt2 -->
    <head>
        <meta charset="UTF-8" />
        <meta name="generator" content="Sympa 6.2.70" />
        <title> %s - %s </title>
    </head>
    <body>
        <form action="/sympa" method="POST" autocomplete="off">
            <fieldset><input type="hidden" name="csrftoken" value="%s" />
            <input type="text" name="filter" value="" />
            <input class="MainMenuLinks" type="submit" name="action_search_list" value="Search lists" />
            </fieldset>
        </form>
`

func (s *wwsympa) page(w http.ResponseWriter, status int, action, content string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, pageHead, s.list+" - a list", action, s.csrf)
	fmt.Fprint(w, content, "\n    </body>\n</html>\n")
}

func (s *wwsympa) session(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie("sympa_session"); err == nil && !s.forget {
		if _, ok := s.sessions[c.Value]; ok {
			return c.Value
		}
	}
	id := rand.Text()
	s.sessions[id] = ""
	http.SetCookie(w, &http.Cookie{Name: "sympa_session", Value: id, Path: "/", HttpOnly: true})
	return id
}

func (s *wwsympa) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	sess := s.session(w, r)
	var list, month, id string
	confirming := false
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/sympa/arcsearch_id/"):
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/sympa/arcsearch_id/"), "/", 3)
		if len(parts) != 3 {
			s.page(w, http.StatusOK, "", `<div id="ErrorMsg"><div class="alert-box">ERROR (arcsearch_id) - missing argument</div></div>`)
			return
		}
		list, month, id = parts[0], parts[1], parts[2]
	case r.Method == http.MethodPost && r.URL.Path == "/sympa":
		if err := r.ParseForm(); err != nil || r.PostForm.Get("action") != "arcsearch_id" {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		list, month, id = r.PostForm.Get("list"), r.PostForm.Get("archive_name"), r.PostForm.Get("msgid")
		// Session.pm confirm_action: a confirmation counts only in the
		// session that was shown the form.
		if _, ok := r.PostForm["response_action_confirm"]; ok && r.PostForm.Get("csrftoken") == s.csrf && s.sessions[sess] == "pending" {
			confirming = true
		}
	default:
		http.NotFound(w, r)
		return
	}
	s.search(w, sess, list, month, id, confirming)
}

// search answers arcsearch_id. WWSympa stores the session when it
// answers, so a confirmation made in a request that crashes is lost.
func (s *wwsympa) search(w http.ResponseWriter, sess, list, month, id string, confirming bool) {
	if list != s.list {
		s.page(w, http.StatusOK, "", fmt.Sprintf(`<div id="ErrorMsg" class="reveal medium"><div class="alert-box alert radius">
            ERROR ()  -

            List '%s' does not exist.
            <br /></div></div>`, html.EscapeString(list)))
		return
	}
	if s.private {
		// check_authz refuses before the confirmation; 6.2.70 shows an
		// empty error box on a page of no action.
		s.page(w, http.StatusOK, "", `<div id="ErrorMsg" class="reveal medium"><div class="alert-box alert radius"><i class="fi-x"></i>
        </div></div>`)
		return
	}
	if s.sessions[sess] != "confirmed" && !confirming {
		s.sessions[sess] = "pending"
		s.page(w, http.StatusOK, "confirm_action", fmt.Sprintf(`<!-- confirm_action.tt2 -->
    <h2><i class="fa fa-check-circle"></i> List archive</h2>
<form action="/sympa" method="POST" autocomplete="off"><input type="hidden" name="csrftoken" value="%s" />
    <input type="hidden" name="archive_name" value="%s" />
        <input type="hidden" name="msgid" value="%s" />
    <input type="hidden" name="action" value="arcsearch_id" />
    <input type="hidden" name="family" value="" />
    <input type="hidden" name="list" value="%s" />
    <input type="hidden" name="previous_action" value="" />
        <div>
            <input class="MainMenuLinks" type="submit"
                   id="response_action_confirm" name="response_action_confirm"
                   value="I am not a spammer" />
        </div>
</form>
<!-- end confirm_action.tt2 -->`, s.csrf, html.EscapeString(month), html.EscapeString(id), html.EscapeString(list)))
		return
	}
	crashes := s.newer == ""
	if _, ok := s.archived[id]; ok || !crashes {
		s.sessions[sess] = "confirmed"
	}
	if file, ok := s.archived[id]; ok {
		w.Header().Set("Location", "http://"+s.pageHost+"/sympa/arc/"+list+"/"+month+"/"+file)
		w.WriteHeader(http.StatusFound)
		return
	}
	switch s.newer {
	case "arc":
		w.Header().Set("Location", "/sympa/arc/"+list+"/2026-11/")
		w.WriteHeader(http.StatusFound)
		return
	case "info":
		s.page(w, http.StatusOK, "info", `<div id="ErrorMsg"><div class="alert-box">ERROR (msg) - No message found in archives matching message ID<br/>ERROR (arc) - empty archives</div></div>`)
		return
	case "arcpage":
		s.page(w, http.StatusOK, "arc", `<div id="ErrorMsg"><div class="alert-box">ERROR (msg) - No message found in archives matching message ID</div></div>`)
		return
	}
	s.page(w, http.StatusServiceUnavailable, "crash", `<h2>Internal Server Error</h2>
                <p>Sympa encountered an internal error.</p>
                   <p>Error: Can&#39;t use an undefined value as an ARRAY reference at /usr/lib/cgi-bin/sympa/wwsympa.fcgi line 9202.
</p>`)
}

func (s *wwsympa) reqs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

var now = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func TestHasConfirmsOnceAndFindsThePost(t *testing.T) {
	s := newWWSympa("users")
	srv := httptest.NewServer(s)
	defer srv.Close()
	a, err := New(srv.URL+"/sympa/", "users", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := "<lp1.abc.1796.xyz@example.test>"
	for _, newer := range []string{"", "arc", "info", "arcpage"} {
		s.newer = newer
		if p, err := a.Has(ctx, id, now); p != "" || err != nil {
			t.Errorf("newer=%q, before archiving: %q, %v", newer, p, err)
		}
	}
	// 6.2.70 keeps no confirmation from a search that crashed: the form
	// again, then once confirmed (6.2.71: no crash) the searches alone.
	if r := s.reqs(); len(r) != 6 || r[0] != "GET /sympa/arcsearch_id/users/2026-12/lp1.abc.1796.xyz@example.test" || r[1] != "POST /sympa" || r[3] != "POST /sympa" || r[5] == "POST /sympa" {
		t.Errorf("requests: %q; want the search and the form twice, then the searches alone", r)
	}
	s.archived["lp1.abc.1796.xyz@example.test"] = "msg00042.html"
	p, err := a.Has(ctx, id, now)
	if want := "http://lists.example.org/sympa/arc/users/2026-12/msg00042.html"; p != want || err != nil {
		t.Errorf("archived: %q, %v; want %q", p, err, want)
	}
	if r := s.reqs(); len(r) != 1 {
		t.Errorf("requests once confirmed: %q", r)
	}
	// A fresh Archive (no session yet) confirms and finds it.
	b, _ := New(srv.URL+"/sympa", "users", srv.Client())
	if p, err := b.Has(ctx, "lp1.abc.1796.xyz@example.test", now); !strings.HasSuffix(p, "/msg00042.html") || err != nil {
		t.Errorf("fresh session: %q, %v", p, err)
	}
	c, _ := New(srv.URL+"/sympa", "other", srv.Client())
	if p, err := c.Has(ctx, id, now); p != "" || err == nil || !strings.Contains(err.Error(), "List 'other' does not exist") {
		t.Errorf("unknown list: %q, %v", p, err)
	}
}

func TestHasErrors(t *testing.T) {
	s := newWWSympa("users")
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx := context.Background()
	host := strings.TrimPrefix(srv.URL, "http://")
	// A Sympa that keeps no session asks again: said, not looped.
	s.forget = true
	a, _ := New(srv.URL+"/sympa", "users", srv.Client())
	if _, err := a.Has(ctx, "<x@y>", now); err == nil || !strings.Contains(err.Error(), "asked again") || !strings.Contains(err.Error(), host) {
		t.Errorf("no session: %v", err)
	}
	if r := s.reqs(); len(r) != 2 {
		t.Errorf("no session: %d requests %q; want 2 (the search, the form once)", len(r), r)
	}
	s.forget = false
	s.private = true
	if _, err := a.Has(ctx, "<x@y>", now); err == nil || !strings.Contains(err.Error(), "web_access public") {
		t.Errorf("archive not public: %v", err)
	}
	s.private = false
	// Another crash is an error naming the host, with Sympa's message.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.page(w, http.StatusServiceUnavailable, "crash", `<p>Error: DBD::SQLite::db do failed: database is locked at /usr/share/sympa/lib/Sympa/DatabaseDriver.pm line 9.</p>`)
	}))
	defer other.Close()
	b, _ := New(other.URL+"/sympa", "users", other.Client())
	if _, err := b.Has(ctx, "<x@y>", now); err == nil || !strings.Contains(err.Error(), "database is locked") || strings.Contains(err.Error(), "DatabaseDriver.pm") || !strings.Contains(err.Error(), strings.TrimPrefix(other.URL, "http://")) {
		t.Errorf("crash: %v", err)
	}
	for status, page := range map[int]string{
		http.StatusNotFound:            "not found",
		http.StatusBadGateway:          "bad gateway",
		http.StatusOK:                  "<html><title>Welcome to nginx</title></html>",
		http.StatusInternalServerError: "",
	} {
		other.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, page)
		})
		if p, err := b.Has(ctx, "<x@y>", now); p != "" || err == nil {
			t.Errorf("HTTP %d %q: %q, %v", status, page, p, err)
		}
	}
	if _, err := b.Has(ctx, "<>", now); err == nil {
		t.Error("an empty Message-ID was looked up")
	}
}

// Redirects are followed only within the archive's origin (scheme, host
// and port); the confirmation form is posted only there.
func TestHasStaysWithinTheOrigin(t *testing.T) {
	var elsewhere []string
	away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere = append(elsewhere, r.Method+" "+r.URL.Path)
	}))
	defer away.Close()
	s := newWWSympa("users")

	mux := http.NewServeMux()
	mux.Handle("/sympa/", s)
	mux.Handle("/sympa", s)
	var mode string
	mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
		switch mode {
		case "within":
			http.Redirect(w, r, "/sympa/"+strings.TrimPrefix(r.URL.Path, "/old/"), http.StatusMovedPermanently)
		case "away":
			http.Redirect(w, r, away.URL+"/sympa/x", http.StatusFound)
		case "form":
			fmt.Fprintf(w, pageHead, "users", "confirm_action", "t")
			fmt.Fprintf(w, `<form action="%s/steal" method="POST"><input type="submit" name="response_action_confirm" value="ok"/></form>`, away.URL)
		case "otherlist":
			// Sympa's search is a substring match; a page of another
			// list is not this list's post.
			http.Redirect(w, r, "/sympa/arc/other/2026-12/msg00001.html", http.StatusFound)
		case "loop":
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	s.archived["x@y"] = "msg00001.html"
	for _, m := range []string{"within", "away", "form", "otherlist", "loop"} {
		mode = m
		a, _ := New(srv.URL+"/old", "users", srv.Client())
		p, err := a.Has(ctx, "<x@y>", now)
		switch {
		case m == "within" && (!strings.HasSuffix(p, "/arc/users/2026-12/msg00001.html") || err != nil):
			t.Errorf("redirect within the origin: %q, %v", p, err)
		case m != "within" && (p != "" || err == nil):
			t.Errorf("%s: %q, %v", m, p, err)
		}
	}
	if len(elsewhere) != 0 {
		t.Errorf("requests to another origin: %q", elsewhere)
	}
}

// The TLS certificate is verified: a client that does not trust the
// server's CA gets an error naming the host, one that does gets the post.
func TestHasVerifiesTLS(t *testing.T) {
	s := newWWSympa("users")
	s.archived["x@y"] = "msg00001.html"
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	a, _ := New(srv.URL+"/sympa", "users", &http.Client{Timeout: 5 * time.Second})
	if _, err := a.Has(context.Background(), "<x@y>", now); err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "https://")) {
		t.Errorf("untrusted certificate: %v", err)
	}
	b, _ := New(srv.URL+"/sympa", "users", srv.Client())
	if p, err := b.Has(context.Background(), "<x@y>", now); p == "" || err != nil {
		t.Errorf("trusted certificate: %q, %v", p, err)
	}
}

// A page longer than maxPage is read only that far, and an answer that
// never ends stops at the client's timeout.
func TestHasBoundedReads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, pageHead, "users", "confirm_action", "t")
		chunk := strings.Repeat("<p>spam</p>", 1000)
		for range 10 * maxPage / len(chunk) {
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
		// The form after maxPage is never read.
		fmt.Fprint(w, `<form action="/sympa" method="POST"><input type="submit" name="response_action_confirm"/></form>`)
	}))
	defer srv.Close()
	a, _ := New(srv.URL+"/sympa", "users", srv.Client())
	if _, err := a.Has(context.Background(), "<x@y>", now); err == nil || !strings.Contains(err.Error(), "confirm_action") {
		t.Errorf("huge page: %v", err)
	}
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	b, _ := New(slow.URL+"/sympa", "users", &http.Client{Timeout: 200 * time.Millisecond})
	if _, err := b.Has(context.Background(), "<x@y>", now); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(slow.URL, "http://")) {
		t.Errorf("no answer: %v", err)
	}
}

func TestURLsAndMonth(t *testing.T) {
	a, err := New("https://lists.example.org/sympa/", "users", nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := a.SearchURL("<a b/c%d@example.org>", "2026-12"); u != "https://lists.example.org/sympa/arcsearch_id/users/2026-12/a%20b%2Fc%25d@example.org" {
		t.Errorf("SearchURL = %s", u)
	}
	for _, bad := range []string{"", "ftp://x/", "lists.example.org/sympa", "https:///x", "https://user:pw@x/sympa"} {
		if _, err := New(bad, "users", nil); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "a/b", "users@lists.example.org", "a?b"} {
		if _, err := New("https://x/sympa", bad, nil); err == nil {
			t.Errorf("list name %q accepted", bad)
		}
	}
	for in, want := range map[time.Time]string{
		time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC):                     "2026-12",
		time.Date(2026, 12, 31, 9, 59, 0, 0, time.UTC):                    "2026-12",
		time.Date(2026, 12, 31, 10, 0, 0, 0, time.UTC):                    "2027-01", // already January at UTC+14
		time.Date(2027, 1, 1, 3, 0, 0, 0, time.FixedZone("PST", -8*3600)): "2027-01",
	} {
		if got := Month(in); got != want {
			t.Errorf("Month(%v) = %s, want %s", in, got, want)
		}
	}
}
