// Package mailmanrest implements a client for the Mailman 3 REST API: a
// list's held-message queue, its moderation settings and a member's
// moderation action, with errors that name the request and never the
// credentials.
package mailmanrest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/listprobe/listprobe/checks/msgid"
	"github.com/listprobe/listprobe/checks/servertext"
)

// Options says how to reach a Mailman 3 REST API.
type Options struct {
	// URL is the API root including its version, e.g.
	// "http://127.0.0.1:8001/3.1".
	URL      string
	Username string
	Password string
	// Client makes the requests. Nil: a client with a 30s timeout. Its
	// CheckRedirect is replaced: redirects are followed only within the
	// URL's origin, so that the credentials never go anywhere else.
	Client *http.Client
}

// Client is a client for the parts of the Mailman 3 REST API that listprobe
// uses: the held-message queue and the moderation settings of a list.
//
// Lists are named by their posting address (probe@lists.example.org); the
// client turns that into Mailman's list_id (probe.lists.example.org).
//
// listprobe only reads, and discards held probes. Tests change lists
// through internal/testbed's MailmanAdmin, which sends its requests with Do.
type Client struct {
	opts Options
}

// New returns a client for opts. It does not contact the server; a
// bad URL is reported by the first request.
func New(opts Options) *Client {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	opts.Client = withRedirectPolicy(opts.Client)
	return &Client{opts: opts}
}

// CloseIdleConnections closes the client's keep-alive connections. Call it
// when the client is no longer used: an idle connection keeps a socket and
// two goroutines alive.
func (c *Client) CloseIdleConnections() { c.opts.Client.CloseIdleConnections() }

// maxBody bounds a REST response. A held queue lists each held post
// in full, so it can be large, but not unbounded.
const maxBody = 64 << 20

// Error is a REST request that Mailman answered with an HTTP error.
// It names the request's path and status, never the credentials.
type Error struct {
	Method string
	Path   string // the URL path, e.g. /3.1/lists/probe.lists.example.org/held
	Status int    // HTTP status code
	// Description is Mailman's own explanation when the body carries one
	// ("title" and "description" of its JSON error body).
	Description string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("mailman REST %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// IsNotFound reports whether err is Mailman answering 404: no such list,
// member or held request.
func IsNotFound(err error) bool {
	var me *Error
	return errors.As(err, &me) && me.Status == http.StatusNotFound
}

// ListID returns Mailman's list_id for a list's posting address:
// the address with its "@" replaced by ".".
func ListID(list string) (string, error) {
	local, domain, ok := strings.Cut(list, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(list, "/ \t\r\n") {
		return "", fmt.Errorf("mailman list address %q: want local@domain", list)
	}
	return local + "." + domain, nil
}

// endpoint joins the API root and path segments, escaping each segment.
func (c *Client) endpoint(segments ...string) (*url.URL, error) {
	base, err := url.Parse(c.opts.URL)
	if err != nil {
		// url.Error repeats the whole URL, which may carry a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("mailman URL: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("mailman URL %q: want http:// or https:// with a host", base.Redacted())
	}
	base.User = nil
	u := *base
	p := strings.TrimRight(base.Path, "/")
	rp := strings.TrimRight(base.EscapedPath(), "/")
	for _, s := range segments {
		p += "/" + s
		rp += "/" + url.PathEscape(s)
	}
	u.Path, u.RawPath = p, rp
	u.RawQuery, u.Fragment = "", ""
	return &u, nil
}

// do is Do without a query string.
func (c *Client) do(ctx context.Context, method string, form url.Values, out any, segments ...string) error {
	return c.Do(ctx, method, nil, form, out, segments...)
}

// Do sends one request to the API root joined with the path segments (each
// escaped), and decodes a JSON answer into out (if not nil). query, when not
// nil, is the query string; form, when not nil, is sent as
// application/x-www-form-urlencoded, the encoding every Mailman 3 version
// accepts. An HTTP error answer is an *Error.
func (c *Client) Do(ctx context.Context, method string, query, form url.Values, out any, segments ...string) error {
	u, err := c.endpoint(segments...)
	if err != nil {
		return err
	}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("mailman REST %s %s: %w", method, u.EscapedPath(), err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.opts.Username, c.opts.Password)
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		// The basic-auth header never appears in net/http's errors; the
		// URL they quote may be a redirect target the server chose, so
		// only the cause is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("mailman REST %s %s: %w", method, u.EscapedPath(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("mailman REST %s %s: reading the answer: %w", method, u.EscapedPath(), err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("mailman REST %s %s: answer larger than %d bytes", method, u.EscapedPath(), maxBody)
	}
	if resp.StatusCode >= 300 {
		return &Error{Method: method, Path: u.EscapedPath(), Status: resp.StatusCode, Description: errorText(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("mailman REST %s %s: decoding the answer: %w", method, u.EscapedPath(), err)
	}
	return nil
}

// errorText pulls the explanation out of an error body: Mailman
// answers {"title": "404 Not Found", "description": "..."} or plain text.
func errorText(data []byte) string {
	var e struct {
		Title       string `json:"title"`
		Description string `json:"description"`
	}
	if json.Unmarshal(data, &e) == nil && (e.Title != "" || e.Description != "") {
		if e.Description != "" {
			return restText(e.Description, 200)
		}
		return restText(e.Title, 200)
	}
	s := strings.TrimSpace(string(data))
	if strings.HasPrefix(s, "<") { // an HTML error page says nothing useful
		return ""
	}
	return servertext.Clean(servertext.Truncate(s, 4096), 200)
}

// HeldMessage is one post in a list's moderation queue.
type HeldMessage struct {
	RequestID int
	MessageID string // with angle brackets, as Client stores it
	Sender    string
	Subject   string
	Reason    string
	// Reasons are all the reasons Mailman recorded (its
	// "moderation_reasons"); Reason is Mailman's own summary, the reasons
	// joined with "; ".
	Reasons []string
	// RuleHits are the moderation rules that matched, e.g.
	// "member-moderation", "emergency", "nonmember-moderation".
	RuleHits []string
	// HoldDate is when Mailman held the post (UTC); zero if it did not say.
	HoldDate time.Time
	// Message is the held post as Mailman stores it (its "msg"), headers
	// and body; the probe token can be verified from its header.
	Message string
}

// mailmanHeldEntry is a held message as the REST API writes it.
type mailmanHeldEntry struct {
	RequestID int               `json:"request_id"`
	MessageID string            `json:"message_id"`
	Sender    string            `json:"sender"`
	Subject   string            `json:"subject"`
	Reason    string            `json:"reason"`
	HoldDate  string            `json:"hold_date"`
	Msg       string            `json:"msg"`
	Reasons   []json.RawMessage `json:"moderation_reasons"`
	RuleHits  []string          `json:"rule_hits"`
}

// mailmanReason decodes one of moderation_reasons: a string, or (Mailman
// 3.3.5 and later, for the *_these_nonmembers rules) a format string and its
// arguments, ["The sender is in the nonmember {} list", "hold"].
func mailmanReason(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []any
	if json.Unmarshal(raw, &parts) != nil || len(parts) == 0 {
		return strings.TrimSpace(string(raw))
	}
	format, _ := parts[0].(string)
	for _, arg := range parts[1:] {
		format = strings.Replace(format, "{}", fmt.Sprint(arg), 1)
	}
	return format
}

func (e mailmanHeldEntry) held() HeldMessage {
	h := HeldMessage{
		RequestID: e.RequestID,
		MessageID: e.MessageID,
		Sender:    e.Sender,
		Subject:   e.Subject,
		Reason:    e.Reason,
		RuleHits:  e.RuleHits,
		Message:   e.Msg,
	}
	for _, r := range e.Reasons {
		h.Reasons = append(h.Reasons, mailmanReason(r))
	}
	// Mailman writes naive UTC timestamps ("2026-11-25T16:05:12.345678").
	for _, layout := range []string{"2006-01-02T15:04:05.999999", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, e.HoldDate, time.UTC); err == nil {
			h.HoldDate = t.UTC()
			break
		}
	}
	return h.cleaned()
}

// Held returns every post held for moderation on list (its posting address).
func (c *Client) Held(ctx context.Context, list string) ([]HeldMessage, error) {
	id, err := ListID(list)
	if err != nil {
		return nil, err
	}
	// "entries" is absent, not empty, when nothing is held.
	var page struct {
		TotalSize int                `json:"total_size"`
		Entries   []mailmanHeldEntry `json:"entries"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &page, "lists", id, "held"); err != nil {
		return nil, err
	}
	out := make([]HeldMessage, 0, len(page.Entries))
	for _, e := range page.Entries {
		out = append(out, e.held())
	}
	return out, nil
}

// HeldNewest returns the newest posts held for moderation on list, at most
// about 2n of them, given total, the queue depth HeldCount returned. Mailman
// lists held posts oldest first and sends each one whole, so reading only
// the tail keeps a probe's look at a long queue of large posts cheap: a
// probe held just now is among the newest.
func (c *Client) HeldNewest(ctx context.Context, list string, total, n int) ([]HeldMessage, error) {
	id, err := ListID(list)
	if err != nil {
		return nil, err
	}
	if total <= 0 || n <= 0 {
		return nil, nil
	}
	last := (total + n - 1) / n
	var out []HeldMessage
	for page := max(last-1, 1); page <= last; page++ {
		var p struct {
			Entries []mailmanHeldEntry `json:"entries"`
		}
		q := url.Values{"count": {fmt.Sprint(n)}, "page": {fmt.Sprint(page)}}
		if err := c.Do(ctx, http.MethodGet, q, nil, &p, "lists", id, "held"); err != nil {
			return nil, err
		}
		for _, e := range p.Entries {
			out = append(out, e.held())
		}
	}
	return out, nil
}

// HeldCount returns how many posts are held for moderation on list, without
// fetching them: the depth of the moderation queue.
func (c *Client) HeldCount(ctx context.Context, list string) (int, error) {
	id, err := ListID(list)
	if err != nil {
		return 0, err
	}
	var n struct {
		Count int `json:"count"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &n, "lists", id, "held", "count"); err != nil {
		return 0, err
	}
	return n.Count, nil
}

// Discard discards the held post requestID of list. Callers discard only
// probes: listprobe never accepts a held post.
//
// Mailman reuses request ids once a request is gone, so an id read a while
// ago may name another post by now: DiscardMessage checks the Message-ID
// first.
func (c *Client) Discard(ctx context.Context, list string, requestID int) error {
	id, err := ListID(list)
	if err != nil {
		return err
	}
	form := url.Values{"action": {"discard"}}
	return c.do(ctx, http.MethodPost, form, nil, "lists", id, "held", strconv.Itoa(requestID))
}

// DiscardMessage discards the held post of list whose Message-ID is
// messageID (angle brackets optional), after reading the request back to
// make sure requestID still names that post. It reports false, and discards
// nothing, when no such post is held.
func (c *Client) DiscardMessage(ctx context.Context, list string, requestID int, messageID string) (bool, error) {
	id, err := ListID(list)
	if err != nil {
		return false, err
	}
	var e mailmanHeldEntry
	if err := c.do(ctx, http.MethodGet, nil, &e, "lists", id, "held", strconv.Itoa(requestID)); err != nil {
		if IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	if !msgid.Same(e.MessageID, messageID) {
		return false, nil
	}
	if err := c.Discard(ctx, list, requestID); err != nil {
		if IsNotFound(err) { // a moderator was quicker
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// ListModeration is the part of a list's configuration that decides whether
// posts are delivered, held or refused.
type ListModeration struct {
	DefaultMemberAction    string // accept, hold, reject, discard, defer
	DefaultNonmemberAction string
	Emergency              bool
	// RespondToPostRequests is whether the poster of a held post is told
	// (the hold notice). With it and AdminImmedNotify both false a hold is
	// silent: only the REST held queue shows it.
	RespondToPostRequests bool
	// AdminImmedNotify is whether the moderators are told of each held post.
	AdminImmedNotify bool
}

// Moderation returns list's moderation settings.
func (c *Client) Moderation(ctx context.Context, list string) (ListModeration, error) {
	id, err := ListID(list)
	if err != nil {
		return ListModeration{}, err
	}
	var cfg struct {
		DefaultMemberAction    string `json:"default_member_action"`
		DefaultNonmemberAction string `json:"default_nonmember_action"`
		Emergency              bool   `json:"emergency"`
		RespondToPostRequests  bool   `json:"respond_to_post_requests"`
		AdminImmedNotify       bool   `json:"admin_immed_notify"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &cfg, "lists", id, "config"); err != nil {
		return ListModeration{}, err
	}
	return ListModeration(cfg).cleaned(), nil
}

// member is the part of a membership resource the client uses.
type mailmanMember struct {
	ModerationAction string          `json:"moderation_action"`
	DeliveryMode     string          `json:"delivery_mode"`
	MemberID         json.RawMessage `json:"member_id"` // hex string in API 3.1, integer in 3.0
}

func (m mailmanMember) memberID() string {
	var id string
	if json.Unmarshal(m.MemberID, &id) != nil {
		id = strings.TrimSpace(string(m.MemberID))
	}
	return restMemberID(id)
}

func (c *Client) membership(ctx context.Context, list, role, address string) (mailmanMember, error) {
	id, err := ListID(list)
	if err != nil {
		return mailmanMember{}, err
	}
	var m mailmanMember
	err = c.do(ctx, http.MethodGet, nil, &m, "lists", id, role, address)
	return m, err
}

// Membership is what a list server says about one address's membership of
// a list: whether it is subscribed, and what it gets.
type Membership struct {
	Subscribed bool
	// ModerationAction is the member's own moderation action, "" when the
	// list default applies.
	ModerationAction string
	// DeliveryMode is regular, plaintext_digests, mime_digests or
	// summary_digests; DeliveryStatus is enabled, by_user, by_bounces,
	// by_moderator or unknown. "" when the server did not say.
	DeliveryMode, DeliveryStatus string
}

// Membership reads address's membership of list. An address that is not a
// member is not an error: Subscribed is false. The delivery status comes
// from the member's combined preferences (its own, its address's, its
// user's and the system's), where Mailman keeps it.
func (c *Client) Membership(ctx context.Context, list, address string) (Membership, error) {
	m, err := c.readMembership(ctx, list, address)
	return m.cleaned(), err
}

func (c *Client) readMembership(ctx context.Context, list, address string) (Membership, error) {
	m, err := c.membership(ctx, list, "member", address)
	if IsNotFound(err) {
		return Membership{}, nil
	}
	if err != nil {
		return Membership{}, err
	}
	out := Membership{Subscribed: true, ModerationAction: m.ModerationAction, DeliveryMode: m.DeliveryMode}
	mid := m.memberID()
	if mid == "" {
		return out, nil
	}
	var prefs struct {
		DeliveryMode   string `json:"delivery_mode"`
		DeliveryStatus string `json:"delivery_status"`
	}
	err = c.do(ctx, http.MethodGet, nil, &prefs, "members", mid, "all", "preferences")
	if IsNotFound(err) {
		return out, nil
	}
	if err != nil {
		return Membership{}, err
	}
	if prefs.DeliveryMode != "" {
		out.DeliveryMode = prefs.DeliveryMode
	}
	out.DeliveryStatus = prefs.DeliveryStatus
	return out, nil
}

// MemberModeration returns the moderation_action of address's membership of
// list, or "" when the member has none of its own (the list default applies).
// An address that is not a member is an error for which IsNotFound is true.
func (c *Client) MemberModeration(ctx context.Context, list, address string) (string, error) {
	m, err := c.membership(ctx, list, "member", address)
	if err != nil {
		return "", err
	}
	return Membership{ModerationAction: m.ModerationAction}.cleaned().ModerationAction, nil
}
