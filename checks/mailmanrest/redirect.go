package mailmanrest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/listprobe/listprobe/checks/servertext"
)

// maxRedirects is how many same-origin redirects one REST request
// follows, as net/http's default policy.
const maxRedirects = 10

// errCrossOriginRedirect is a redirect the client refuses to follow: its
// target is another origin (scheme, host or port) than the API root the
// credentials were configured for.
var errCrossOriginRedirect = errors.New("redirected to another origin: not following it with the REST credentials")

// redirectPolicy follows a redirect only within the origin of the
// first request: the same scheme, host and port. net/http's default resends
// the Authorization header to the same host on any port and from https to
// http, which would hand the REST password to another service, or send it in
// clear text past the load-time rule that forbids http:// to a remote host.
// A redirect anywhere else ends the request with an error naming the target's
// origin (never its path or query, which the server chose).
func redirectPolicy(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if from, to := origin(via[0].URL), origin(req.URL); from != to {
		return fmt.Errorf("%w (%s to %s)", errCrossOriginRedirect, from, servertext.Clean(to, 200))
	}
	return nil
}

// origin is a URL's scheme, host and port, with the scheme's default port
// made explicit so that https://h and https://h:443 are one origin.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// withRedirectPolicy returns a copy of c (never changing the caller's
// client) that follows only same-origin redirects.
func withRedirectPolicy(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = redirectPolicy
	return &cc
}
