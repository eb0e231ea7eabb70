package sandbox

// This file serves the part of Mailman 3.3's REST API that listprobe's
// client (mailmanrest.Client) uses, from Mailman's src/mailman/rest: root.py and
// wsgiapp.py (versions, basic authentication), helpers.py (collections with
// start, total_size and entries only when not empty; http_etag; error
// bodies), lists.py (lists, rosters, member lookup), post_moderation.py (the
// held queue), listconf.py and validator.py (configuration PATCH and its
// error messages) and members.py (a member's moderation_action).
//
// Served, under /3.0 and /3.1:
//
//	GET          /system, /system/versions
//	GET          /lists, /lists/{list}
//	GET          /lists/{list}/held, /lists/{list}/held/count
//	GET, POST    /lists/{list}/held/{request_id}  (action=accept|reject|discard|defer|hold, comment)
//	GET, PATCH   /lists/{list}/config, /lists/{list}/config/{attribute}
//	GET          /lists/{list}/roster/{member|moderator|owner|nonmember}
//	GET, PATCH   /lists/{list}/{member|moderator|owner|nonmember}/{address}
//	GET          /members
//	GET, PATCH   /members/{member_id}
//	GET          /members/find, /queues, /queues/{name} (rest_pipeline.go)
//
// {list} is the list_id (the posting address with "@" turned into ".") or
// the posting address. Parameters come form-encoded or as a JSON object.
// The configuration shows the five settings the simulator acts on
// (default_member_action, default_nonmember_action, emergency,
// respond_to_post_requests, admin_immed_notify), all writable, and the
// list's read-only names (fqdn_listname, list_name, mail_host and the
// addresses); Mailman's other attributes are not served, so a PATCH naming
// one is answered 400 "Unknown attribute". Creating lists and domains,
// deleting lists and subscribing are in rest_admin.go.

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// restServer is a world's REST API.
type restServer struct {
	w    *World
	srv  *http.Server
	base string // "http://127.0.0.1:PORT"
	done chan struct{}
}

func (w *World) startREST() (*restServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: mailman REST listen on 127.0.0.1: %w", err)
	}
	s := &restServer{w: w, base: "http://" + ln.Addr().String(), done: make(chan struct{})}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          slog.NewLogLogger(w.log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns when Shutdown closes the listener
	}()
	return s, nil
}

// close stops the server and waits for it: requests in progress get a few
// seconds to finish, then their connections are closed.
func (s *restServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}

// restError is an error answer: Falcon's JSON error body, with
// "description" only when there is one.
type restError struct {
	status      int
	description string
}

func (e *restError) Error() string { return e.description }

func notFound(description string) *restError {
	return &restError{http.StatusNotFound, description}
}

func badRequest(description string) *restError {
	return &restError{http.StatusBadRequest, description}
}

// errNotFound is what Mailman answers when the path names nothing (a
// resource's child that does not match): a 404 without description.
var errNotFound = notFound("")

// errNotFoundHere is what a resource answers for itself when it does not
// exist (helpers.not_found).
var errNotFoundHere = notFound("404 Not Found")

func writeJSON(rw http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(rw, "sandbox: encoding the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json; charset=UTF-8")
	rw.Header().Set("Content-Length", strconv.Itoa(len(b)))
	rw.WriteHeader(status)
	rw.Write(b)
}

func writeError(rw http.ResponseWriter, e *restError) {
	body := map[string]string{"title": fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))}
	if e.description != "" {
		body["description"] = e.description
	}
	writeJSON(rw, e.status, body)
}

// etag adds Mailman's http_etag (a SHA-1 of the resource) and returns res.
func etag(res map[string]any) map[string]any {
	b, _ := json.Marshal(res)
	sum := sha1.Sum(b)
	res["http_etag"] = `"` + hex.EncodeToString(sum[:]) + `"`
	return res
}

// restCall is one request on its way through the resources.
type restCall struct {
	s   *restServer
	r   *http.Request
	api string // "3.0" or "3.1"
}

// link is api.path_to: an absolute URL of a resource in the request's API
// version.
func (c *restCall) link(path string) string {
	return c.s.base + "/" + c.api + "/" + path
}

// answer is what a resource returns: a status with a JSON body, or 204, or
// 201 with a Location.
type answer struct {
	status   int
	body     any
	location string
}

func ok(body map[string]any) answer { return answer{status: http.StatusOK, body: etag(body)} }

var noContent = answer{status: http.StatusNoContent}

func (s *restServer) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s.w.restRequests.Add(1)
	user, pass, hasAuth := r.BasicAuth()
	if !hasAuth ||
		subtle.ConstantTimeCompare([]byte(user), []byte(s.w.MailmanUsername)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.w.MailmanPassword)) != 1 {
		rw.Header().Set("WWW-Authenticate", `Basic realm="mailman3-rest",charset="utf-8"`)
		writeError(rw, &restError{http.StatusUnauthorized, "REST API authorization failed"})
		return
	}
	segs, err := pathSegments(r.URL.EscapedPath())
	if err != nil || len(segs) < 2 || (segs[0] != "3.0" && segs[0] != "3.1") {
		writeError(rw, errNotFound)
		return
	}
	c := &restCall{s: s, r: r, api: segs[0]}
	a, err := c.route(segs[1:])
	if err != nil {
		var re *restError
		if !errors.As(err, &re) {
			re = &restError{http.StatusInternalServerError, err.Error()}
		}
		if re.status == http.StatusMethodNotAllowed {
			rw.Header().Set("Allow", re.description)
			re = &restError{http.StatusMethodNotAllowed, ""}
		}
		writeError(rw, re)
		return
	}
	if a.location != "" {
		rw.Header().Set("Location", a.location)
	}
	if a.body == nil {
		rw.WriteHeader(a.status)
		return
	}
	writeJSON(rw, a.status, a.body)
}

// pathSegments splits an escaped path into unescaped segments, ignoring a
// trailing slash as Falcon does.
func pathSegments(escaped string) ([]string, error) {
	escaped = strings.TrimSuffix(strings.TrimPrefix(escaped, "/"), "/")
	if escaped == "" {
		return nil, nil
	}
	parts := strings.Split(escaped, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

// allow answers 405 unless the request's method is one of methods.
func (c *restCall) allow(methods ...string) error {
	for _, m := range methods {
		if c.r.Method == m {
			return nil
		}
	}
	return &restError{http.StatusMethodNotAllowed, strings.Join(methods, ", ")}
}

func (c *restCall) route(segs []string) (answer, error) {
	switch segs[0] {
	case "system":
		if len(segs) > 2 || (len(segs) == 2 && segs[1] != "versions") {
			return answer{}, errNotFound
		}
		if err := c.allow(http.MethodGet); err != nil {
			return answer{}, err
		}
		return ok(map[string]any{
			"mailman_version": "GNU Mailman " + MailmanVersion + " (Tom Sawyer)",
			"python_version":  "listprobe sandbox",
			"api_version":     c.api,
			"self_link":       c.link("system/versions"),
		}), nil
	case "lists":
		return c.lists(segs[1:])
	case "domains":
		return c.domains(segs[1:])
	case "members":
		return c.members(segs[1:])
	case "queues":
		return c.queues(segs[1:])
	}
	return answer{}, errNotFound
}

// findList returns the list named by a list_id or a posting address.
func (w *World) findList(ident string) *listState {
	w.mu.Lock()
	defer w.mu.Unlock()
	ident = strings.ToLower(ident)
	if strings.Contains(ident, "@") {
		return w.lists[ident]
	}
	return w.byID[ident]
}

func (c *restCall) lists(segs []string) (answer, error) {
	w := c.s.w
	if len(segs) == 0 {
		if err := c.allow(http.MethodGet, http.MethodPost); err != nil {
			return answer{}, err
		}
		if c.r.Method == http.MethodPost {
			return c.createList()
		}
		w.mu.Lock()
		all := make([]*listState, 0, len(w.lists))
		for _, st := range w.lists {
			all = append(all, st)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].names.listID < all[j].names.listID })
		entries := make([]map[string]any, len(all))
		for i, st := range all {
			entries[i] = c.listResource(st)
		}
		w.mu.Unlock()
		return c.collection(entries)
	}
	st := w.findList(segs[0])
	if len(segs) == 1 {
		if err := c.allow(http.MethodGet, http.MethodDelete); err != nil {
			return answer{}, err
		}
		if st == nil {
			return answer{}, errNotFoundHere
		}
		if c.r.Method == http.MethodDelete {
			return c.deleteList(st)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return ok(c.listResource(st)), nil
	}
	if st == nil {
		return answer{}, errNotFound
	}
	rest := segs[1:]
	switch {
	case rest[0] == "held":
		return c.held(st, rest[1:])
	case rest[0] == "config" && len(rest) <= 2:
		attr := ""
		if len(rest) == 2 {
			attr = rest[1]
		}
		return c.config(st, attr)
	case rest[0] == "roster" && len(rest) == 2 && validRole(rest[1]):
		if err := c.allow(http.MethodGet); err != nil {
			return answer{}, err
		}
		w.mu.Lock()
		var entries []map[string]any
		for _, m := range st.rosterOrder {
			if m.role == rest[1] {
				entries = append(entries, c.memberResource(m))
			}
		}
		w.mu.Unlock()
		return c.collection(entries)
	case len(rest) == 2 && validRole(rest[0]):
		w.mu.Lock()
		m := st.roster(rest[0])[strings.ToLower(rest[1])]
		w.mu.Unlock()
		if m == nil {
			return answer{}, errNotFound
		}
		return c.member(m)
	}
	return answer{}, errNotFound
}

func validRole(r string) bool {
	switch r {
	case "member", "owner", "moderator", "nonmember":
		return true
	}
	return false
}

// listResource is lists.py _ListBase._resource_as_dict. Call with w.mu held.
func (c *restCall) listResource(st *listState) map[string]any {
	return map[string]any{
		"advertised":    true,
		"display_name":  st.names.displayName,
		"fqdn_listname": st.names.fqdn,
		"list_id":       st.names.listID,
		"list_name":     st.names.local,
		"mail_host":     st.names.domain,
		"member_count":  len(st.members),
		"volume":        1,
		"description":   "",
		"self_link":     c.link("lists/" + st.names.listID),
	}
}

// collection is helpers.py CollectionMixin._make_collection, with its
// count and page query parameters.
func (c *restCall) collection(entries []map[string]any) (answer, error) {
	q := c.r.URL.Query()
	start, total := 0, len(entries)
	if q.Has("count") || q.Has("page") {
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil || count < 0 {
			return answer{}, badRequest(`The "count" parameter is invalid. count should be a positive integer.`)
		}
		page, err := strconv.Atoi(q.Get("page"))
		if err != nil || page < 1 {
			return answer{}, badRequest(`The "page" parameter is invalid. page should be greater than 0.`)
		}
		start = (page - 1) * count
		end := page * count
		if start > total {
			start = total
		}
		if end > total {
			end = total
		}
		entries = entries[start:end]
		start = (page - 1) * count
	}
	res := map[string]any{"start": start, "total_size": total}
	if len(entries) > 0 {
		for _, e := range entries {
			etag(e)
		}
		res["entries"] = entries
	}
	return ok(res), nil
}

// held serves lists/{list}/held and below.
func (c *restCall) held(st *listState, segs []string) (answer, error) {
	w := c.s.w
	switch {
	case len(segs) == 0:
		if err := c.allow(http.MethodGet); err != nil {
			return answer{}, err
		}
		w.mu.Lock()
		entries := make([]map[string]any, len(st.held))
		for i := range st.held {
			entries[i] = c.heldResource(st, &st.held[i])
		}
		w.mu.Unlock()
		return c.collection(entries)
	case len(segs) == 1 && segs[0] == "count":
		if err := c.allow(http.MethodGet); err != nil {
			return answer{}, err
		}
		w.mu.Lock()
		n := len(st.held)
		w.mu.Unlock()
		return ok(map[string]any{"count": n}), nil
	case len(segs) == 1:
		if err := c.allow(http.MethodGet, http.MethodPost); err != nil {
			return answer{}, err
		}
		if c.r.Method == http.MethodPost {
			return c.moderate(st, segs[0])
		}
		id, err := strconv.Atoi(segs[0])
		if err != nil {
			return answer{}, errNotFoundHere
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		for i := range st.held {
			if st.held[i].RequestID == id {
				return ok(c.heldResource(st, &st.held[i])), nil
			}
		}
		return answer{}, errNotFoundHere
	}
	return answer{}, errNotFound
}

// heldResource is post_moderation.py _HeldMessageBase._make_resource: the
// _mod_ fields renamed, the rest of the held message's metadata as the
// posting chain left it, the message as text. Call with w.mu held.
func (c *restCall) heldResource(st *listState, h *HeldMessage) map[string]any {
	res := map[string]any{
		"request_id":         h.RequestID,
		"message_id":         h.MessageID,
		"sender":             h.Sender,
		"subject":            h.Subject,
		"original_subject":   h.originalSubject,
		"reason":             h.Reason,
		"hold_date":          pythonISO(h.HoldDate),
		"msg":                strings.ReplaceAll(string(h.Raw), "\r\n", "\n"),
		"self_link":          c.link(fmt.Sprintf("lists/%s/held/%d", st.names.listID, h.RequestID)),
		"moderation_reasons": []string{h.Reason},
		"rule_hits":          h.RuleHits,
		"rule_misses":        h.ruleMisses,
		"moderation_sender":  h.modSender,
		"listid":             st.names.listID,
		"to_list":            true,
		"original_size":      h.originalSize,
		"received_time":      pythonISO(h.received),
	}
	if h.modAction != "" {
		res["member_moderation_action"] = h.modAction
	}
	return res
}

// pythonISO is Python's naive datetime.isoformat of a UTC time, as Mailman
// writes its timestamps: microseconds only when not zero.
func pythonISO(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s
}

// moderate is post_moderation.py HeldMessage.on_post with
// app/moderator.py handle_message.
func (c *restCall) moderate(st *listState, rid string) (answer, error) {
	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if err := unexpected(p, "action", "comment"); err != nil {
		return answer{}, err
	}
	var action Action
	if v, ok := p["action"]; ok {
		if action, err = asAction(v, false); err != nil {
			return answer{}, invalidParams(map[string]error{"action": err})
		}
	} else {
		return answer{}, badRequest("Missing Parameter: action")
	}
	comment := ""
	if v, ok := p["comment"]; ok {
		if comment, err = single(v); err != nil {
			return answer{}, invalidParams(map[string]error{"comment": err})
		}
	}
	id, err := strconv.Atoi(rid)
	if err != nil {
		return answer{}, errNotFoundHere
	}
	w := c.s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	idx := -1
	for i := range st.held {
		if st.held[i].RequestID == id {
			idx = i
		}
	}
	if idx < 0 {
		return answer{}, errNotFoundHere
	}
	h := st.held[idx].clone()
	names, subs, junk := st.names, append([]string(nil), st.subs...), st.junkSet()
	var work func()
	switch action {
	case ActionDefer, ActionHold:
		return noContent, nil // kept for later
	case ActionDiscard:
		w.log.Info("sandbox: held post discarded", "list", names.fqdn, "message_id", h.MessageID)
	case ActionReject:
		if comment == "" {
			comment = "[No reason given]"
		}
		subject := h.originalSubject
		if subject == "" {
			subject = "(no subject)"
		}
		work = func() {
			if h.Sender != "" {
				w.sendLocal(names, h.Sender, refuseNotice(names, h.Sender, subject, comment, time.Now()))
			}
		}
	case ActionAccept:
		work = func() {
			m, err := parseMessage(h.Raw)
			if err != nil {
				w.log.Error("sandbox: approved post unparseable", "list", names.fqdn, "err", err)
				return
			}
			// The approved post goes to the pipeline queue: no rule
			// runs again, so its rule headers are the hold's.
			m.add("X-Mailman-Approved-At", rfc2822Date(time.Now()))
			w.explode(names, subs, listCopyWith(names, m, nil, nil), junk)
		}
	}
	if work != nil && !w.enqueueLocked(work) {
		return answer{}, &restError{http.StatusServiceUnavailable, "the sandbox world is closing"}
	}
	st.held = append(st.held[:idx], st.held[idx+1:]...)
	return noContent, nil
}
