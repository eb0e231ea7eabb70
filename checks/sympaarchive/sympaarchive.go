// Package sympaarchive reads Sympa's web archive (WWSympa): whether a list's
// archive holds a message, found by its Message-ID.
//
// WWSympa's arcsearch_id action (<wwsympa_url>/arcsearch_id/<list>/<yyyy-mm>/<id>;
// Sympa 6.2.71 and later call it msg and keep the old name) searches the
// month named and the latest earlier month that has posts, and answers a
// post it finds with a redirect to the post's page
// (<wwsympa_url>/arc/<list>/<yyyy-mm>/msgNNNNN.html). It needs the list's
// archive readable by anyone (archive web_access public). Against address
// harvesting (web_archive_spam_protection cookie, the default) Sympa first
// answers a visitor without a session with an "I am not a spammer" form;
// posting that form back once, with the session cookie it set, confirms the
// session, whose later searches are answered directly. A search that finds
// nothing goes on to the list's archive (6.2.71 and later: a redirect to
// the archive's latest month, or the list's info page when it has no
// archive yet) or, in 6.2.70 and earlier, fails with Sympa's "internal
// error" page (HTTP 503, a Perl error about "an ARRAY reference").
package sympaarchive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// maxPage is the most of a page read: WWSympa's pages are 10 to 40 KB.
const maxPage = 1 << 20

// maxSteps bounds the requests of one look-up: the search, the form
// posted back once, and a few redirects within the archive's origin.
const maxSteps = 5

// Archive is one list's Sympa web archive. It keeps the session cookie
// Sympa sets, so that it confirms the "I am not a spammer" form once, not
// at every look-up. An Archive may be used by one goroutine at a time.
type Archive struct {
	base   *url.URL // WWSympa's URL, without a trailing slash
	list   string   // the list's name
	client *http.Client
}

// New returns the archive of the list named list (the local part of its
// address) under WWSympa's URL base, e.g. https://lists.example.org/sympa
// (Sympa's wwsympa_url). client's transport and timeout are used; the
// Archive gets a cookie jar of its own and follows redirects itself, only
// within base's origin.
func New(base, list string, client *http.Client) (*Archive, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("sympa URL %q: want http:// or https:// with a host, e.g. https://lists.example.org/sympa", base)
	}
	if list == "" || strings.ContainsAny(list, "/?#@ ") {
		return nil, fmt.Errorf("sympa archive: %q is not a list name", list)
	}
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	u.Path = strings.TrimSuffix(u.Path, "/")
	jar, _ := cookiejar.New(nil) // never fails without options
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if client != nil {
		c.Transport, c.Timeout = client.Transport, client.Timeout
	}
	return &Archive{base: u, list: list, client: c}, nil
}

// Month is the archive month listprobe names in a search at time now: the
// month now is in somewhere (UTC+14), since Sympa files a post under its
// own local month and also searches the latest earlier month with posts.
func Month(now time.Time) string { return now.UTC().Add(14 * time.Hour).Format("2006-01") }

// SearchURL is WWSympa's arcsearch_id URL for messageID (angle brackets
// optional) in month (yyyy-mm).
func (a *Archive) SearchURL(messageID, month string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	u := *a.base
	u.Path = u.Path + "/arcsearch_id/" + a.list + "/" + month + "/" + id
	u.RawPath = a.base.EscapedPath() + "/arcsearch_id/" + url.PathEscape(a.list) + "/" + month + "/" + url.PathEscape(id)
	return u.String()
}

// Has asks the archive for messageID: the post's page when Sympa finds it,
// "" and no error when it does not (yet).
func (a *Archive) Has(ctx context.Context, messageID string, now time.Time) (string, error) {
	if strings.TrimSpace(strings.Trim(strings.TrimSpace(messageID), "<>")) == "" {
		return "", errors.New("sympa archive: no Message-ID to look for")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.SearchURL(messageID, Month(now)), nil)
	if err != nil {
		return "", fmt.Errorf("sympa archive: %w", err)
	}
	confirmed := false
	for range maxSteps {
		ans, err := a.do(req)
		if err != nil {
			return "", err
		}
		switch {
		case ans.found != "":
			return ans.found, nil
		case ans.notFound:
			return "", nil
		case ans.next == nil:
			return "", ans.err
		case ans.next.Method == http.MethodPost && confirmed:
			return "", fmt.Errorf("sympa archive %s: Sympa asked again to confirm \"I am not a spammer\": it kept no session (its sympa_session cookie)", req.URL.Redacted())
		}
		confirmed = confirmed || ans.next.Method == http.MethodPost
		req = ans.next
	}
	return "", fmt.Errorf("sympa archive %s: more than %d requests without an answer", req.URL.Redacted(), maxSteps)
}

// answer is what one response says: the post's page (found), not found,
// the next request to make, or an error.
type answer struct {
	found    string
	notFound bool
	next     *http.Request
	err      error
}

// do sends req and reads what Sympa's answer says.
func (a *Archive) do(req *http.Request) (answer, error) {
	where := req.Method + " " + req.URL.Redacted()
	resp, err := a.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("sympa archive %s: %w", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return answer{}, fmt.Errorf("sympa archive %s: %w", where, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return a.redirect(req, resp), nil
	}
	p := parsePage(body)
	switch {
	case resp.StatusCode == http.StatusOK && p.confirm != nil:
		next, err := a.confirm(req, p.confirm)
		return answer{next: next, err: err}, nil
	case resp.StatusCode == http.StatusOK && (p.action == "arc" || p.action == "info"):
		// 6.2.71 and later: "No message found in archives matching
		// message ID", on the archive's page, or on the list's page when
		// it has no archive yet.
		return answer{notFound: true}, nil
	case resp.StatusCode == http.StatusServiceUnavailable && p.action == "crash" && bytes.Contains(body, []byte("an ARRAY reference")):
		// 6.2.70 and earlier: the search found nothing and then failed.
		return answer{notFound: true}, nil
	case resp.StatusCode == http.StatusServiceUnavailable && p.action == "crash":
		return answer{err: fmt.Errorf("sympa archive %s: Sympa failed: %s", where, firstNonEmpty(p.crash, "internal error"))}, nil
	case resp.StatusCode == http.StatusOK && p.sympa && p.errors != "":
		return answer{err: fmt.Errorf("sympa archive %s: Sympa says: %s", where, p.errors)}, nil
	case resp.StatusCode == http.StatusOK && p.sympa:
		// A list whose archive is not public answers with an empty error
		// box and no action (6.2.70).
		page := "a page"
		if p.action != "" {
			page = fmt.Sprintf("its %q page", p.action)
		}
		return answer{err: fmt.Errorf("sympa archive %s: Sympa answered with %s, not the post: is the list's archive readable by anyone (archive web_access public)?", where, page)}, nil
	case resp.StatusCode == http.StatusOK:
		return answer{err: fmt.Errorf("sympa archive %s: not a Sympa page (is the URL WWSympa's, Sympa's wwsympa_url?)", where)}, nil
	}
	return answer{err: fmt.Errorf("sympa archive %s: %s", where, resp.Status)}, nil
}

// messagePage is the path of an archived post's page, ending
// /arc/<list>/<yyyy-mm>/msgNNNNN.html; archiveIndex that of the archive
// or one of its months, /arc/<list>/ or /arc/<list>/<yyyy-mm>/.
var (
	messagePage  = regexp.MustCompile(`/arc/([^/]+)/\d{4}-\d{2}/msg\d+\.html$`)
	archiveIndex = regexp.MustCompile(`/arc/([^/]+)/(\d{4}-\d{2}/)?$`)
)

// redirect reads a redirect: to this list's post page it is the answer
// (Sympa's host there is its wwsympa_url's, which may differ from the one
// listprobe reaches it by, so the page is not fetched), to the list's
// archive index "not found"; elsewhere within the archive's origin it is
// followed; outside it, it is an error.
func (a *Archive) redirect(req *http.Request, resp *http.Response) answer {
	where := req.Method + " " + req.URL.Redacted()
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return answer{err: fmt.Errorf("sympa archive %s: %s without a valid Location", where, resp.Status)}
	}
	if m := messagePage.FindStringSubmatch(loc.Path); m != nil && m[1] == a.list {
		loc.User = nil
		return answer{found: loc.String()}
	}
	if m := archiveIndex.FindStringSubmatch(loc.Path); m != nil && m[1] == a.list {
		// 6.2.71 and later, not found: on to the archive's latest month.
		return answer{notFound: true}
	}
	if !a.sameOrigin(loc) {
		return answer{err: fmt.Errorf("sympa archive %s: redirected to %s, outside %s: not followed", where, loc.Redacted(), a.origin())}
	}
	next, err := http.NewRequestWithContext(req.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		return answer{err: fmt.Errorf("sympa archive %s: %w", where, err)}
	}
	return answer{next: next}
}

// confirm is the request that posts Sympa's "I am not a spammer" form
// back, as a browser would: every field of the form, with its button.
func (a *Archive) confirm(req *http.Request, f *form) (*http.Request, error) {
	where := req.Method + " " + req.URL.Redacted()
	target, err := req.URL.Parse(f.action)
	if err != nil || !a.sameOrigin(target) {
		return nil, fmt.Errorf("sympa archive %s: its confirmation form posts to %q, outside %s: not sent", where, f.action, a.origin())
	}
	if f.method != "" && !strings.EqualFold(f.method, http.MethodPost) {
		return nil, fmt.Errorf("sympa archive %s: its confirmation form is not a POST form", where)
	}
	next, err := http.NewRequestWithContext(req.Context(), http.MethodPost, target.String(), strings.NewReader(f.values.Encode()))
	if err != nil {
		return nil, fmt.Errorf("sympa archive %s: %w", where, err)
	}
	next.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return next, nil
}

func (a *Archive) origin() string { return a.base.Scheme + "://" + a.base.Host }

// sameOrigin: u has the archive's scheme, host and port.
func (a *Archive) sameOrigin(u *url.URL) bool {
	return u.Scheme == a.base.Scheme && strings.EqualFold(u.Host, a.base.Host) && u.User == nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
