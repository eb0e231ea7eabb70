package mailmanrest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// authSeen is a REST server that records every Authorization header it is
// sent.
type authSeen struct {
	mu    sync.Mutex
	auths []string
}

func (a *authSeen) handler(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.auths = append(a.auths, r.Header.Get("Authorization"))
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"count": 7}`))
}

func (a *authSeen) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...)
}

func redirectTo(target string, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.Path, code)
	}
}

var redirectCodes = []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}

// A Mailman server (or whoever answers at its address) that redirects to
// the same host on another port must not receive the REST password there:
// that port may be any other service, and it gets nothing.
func TestMailmanRedirectToAnotherPortGetsNoCredentials(t *testing.T) {
	for _, code := range redirectCodes {
		t.Run(http.StatusText(code), func(t *testing.T) {
			other := &authSeen{}
			target := httptest.NewServer(http.HandlerFunc(other.handler))
			defer target.Close()
			front := httptest.NewServer(redirectTo(target.URL, code))
			defer front.Close()

			mm := New(Options{URL: front.URL + "/3.1", Username: "restadmin", Password: "s3cret"})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := mm.HeldCount(ctx, "probe@lists.example.org")
			for _, a := range other.seen() {
				if a != "" {
					t.Errorf("the other port was sent Authorization %q", a)
				}
			}
			if err == nil {
				t.Fatal("HeldCount followed a redirect to another port")
			}
			if !errors.Is(err, errCrossOriginRedirect) {
				t.Errorf("error %q does not say the redirect went to another origin", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// A redirect from https to http would send the password in clear text,
// although the config only allowed https: it is not followed.
func TestMailmanRedirectFromHTTPSToHTTPGetsNoCredentials(t *testing.T) {
	for _, code := range redirectCodes {
		t.Run(http.StatusText(code), func(t *testing.T) {
			plain := &authSeen{}
			target := httptest.NewServer(http.HandlerFunc(plain.handler))
			defer target.Close()
			front := httptest.NewTLSServer(redirectTo(target.URL, code))
			defer front.Close()

			mm := New(Options{URL: front.URL + "/3.1", Username: "restadmin", Password: "s3cret", Client: front.Client()})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := mm.HeldCount(ctx, "probe@lists.example.org"); !errors.Is(err, errCrossOriginRedirect) {
				t.Fatalf("HeldCount after a redirect to http: err = %v, want a refused cross-origin redirect", err)
			}
			for _, a := range plain.seen() {
				if a != "" {
					t.Errorf("the http server was sent Authorization %q", a)
				}
			}
		})
	}
}

// A redirect within the API's own origin (a trailing slash, a moved API
// root) is still followed, with the credentials.
func TestMailmanRedirectWithinOriginKeepsWorking(t *testing.T) {
	api := &authSeen{}
	mux := http.NewServeMux()
	mux.HandleFunc("/3.1/", redirectTo("/new", http.StatusTemporaryRedirect))
	mux.HandleFunc("/new/", api.handler)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mm := New(Options{URL: srv.URL + "/3.1", Username: "restadmin", Password: "s3cret"})
	n, err := mm.HeldCount(context.Background(), "probe@lists.example.org")
	if err != nil || n != 7 {
		t.Fatalf("HeldCount = %d, %v; want 7 through a same-origin redirect", n, err)
	}
	if got := api.seen(); len(got) != 1 || !strings.HasPrefix(got[0], "Basic ") {
		t.Errorf("same-origin target saw Authorization %q, want the credentials", got)
	}
}

// The caller's client is not changed: its own redirect policy stays its own.
func TestNewMailmanLeavesTheCallersClientAlone(t *testing.T) {
	c := &http.Client{}
	New(Options{URL: "http://127.0.0.1:1/3.1", Client: c})
	if c.CheckRedirect != nil {
		t.Error("NewMailman changed the caller's http.Client")
	}
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"https://H.example.org/x", "https://h.example.org:443/y"},
		{"http://127.0.0.1/x", "http://127.0.0.1:80/"},
		{"http://[::1]:8001/a", "http://[::1]:8001/b"},
	} {
		if origin(mustURL(t, tc.a)) != origin(mustURL(t, tc.b)) {
			t.Errorf("%s and %s are one origin", tc.a, tc.b)
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"https://h.example.org/x", "http://h.example.org/x"},
		{"http://127.0.0.1:8001/x", "http://127.0.0.1:8002/x"},
		{"http://lists.example.org/", "http://evil.lists.example.org/"},
	} {
		if origin(mustURL(t, tc.a)) == origin(mustURL(t, tc.b)) {
			t.Errorf("%s and %s are different origins", tc.a, tc.b)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
