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
	"math/big"
	"mime"
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

// params returns the request's parameters like Mailman's
// get_request_params: a JSON object's members, or the form fields and query
// parameters. A field given more than once has several values.
func (c *restCall) params() (map[string][]string, error) {
	ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var obj map[string]any
		dec := json.NewDecoder(http.MaxBytesReader(nil, c.r.Body, 1<<20))
		if err := dec.Decode(&obj); err != nil {
			return nil, badRequest("Could not parse the JSON body: " + err.Error())
		}
		out := map[string][]string{}
		for k, v := range obj {
			switch v := v.(type) {
			case []any:
				for _, x := range v {
					out[k] = append(out[k], jsonScalar(x))
				}
			default:
				out[k] = []string{jsonScalar(v)}
			}
		}
		return out, nil
	}
	c.r.Body = http.MaxBytesReader(nil, c.r.Body, 1<<20)
	if err := c.r.ParseForm(); err != nil {
		return nil, badRequest("Could not parse the form: " + err.Error())
	}
	return c.r.Form, nil
}

func jsonScalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sortedKeys returns the keys of p in order, so that error messages do not
// depend on map order.
func sortedKeys(p map[string][]string) []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// single is the one value of a parameter given once.
func single(v []string) (string, error) {
	if len(v) != 1 {
		return "", errors.New("Expected a single value")
	}
	return v[0], nil
}

// asBoolean is lazr.config's as_boolean.
func asBoolean(v []string) (bool, error) {
	s, err := single(v)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "true", "yes", "1", "on", "enabled", "enable":
		return true, nil
	case "false", "no", "0", "off", "disabled", "disable":
		return false, nil
	}
	return false, fmt.Errorf("Invalid boolean value: %s", s)
}

// asAction is validator.py enum_validator(Action).
func asAction(v []string, allowBlank bool) (Action, error) {
	s, err := single(v)
	if err != nil {
		return "", err
	}
	if s == "" && allowBlank {
		return "", nil
	}
	if a := Action(s); a.valid() {
		return a, nil
	}
	names := make([]string, len(actionOrder))
	for i, a := range actionOrder {
		names[i] = string(a)
	}
	return "", fmt.Errorf("Accepted Values are: %s", strings.Join(names, ", "))
}

// invalidParams is validator.py's message for parameters that do not
// convert.
func invalidParams(bad map[string]error) error {
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, len(keys))
	for i, k := range keys {
		msgs[i] = fmt.Sprintf("Invalid Parameter %q: %s.", k, bad[k])
	}
	return badRequest(strings.Join(msgs, " "))
}

// unexpected checks that p has only the allowed keys (validator.py
// "Unexpected parameters").
func unexpected(p map[string][]string, allowed ...string) error {
	var extra []string
	for _, k := range sortedKeys(p) {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		if !found {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		return badRequest("Unexpected parameters: " + strings.Join(extra, ", "))
	}
	return nil
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

// The configuration attributes served, with whether they are writable.
var configAttributes = map[string]bool{
	"admin_immed_notify":       true,
	"default_member_action":    true,
	"default_nonmember_action": true,
	"emergency":                true,
	"respond_to_post_requests": true,
	"bounces_address":          false,
	"fqdn_listname":            false,
	"join_address":             false,
	"leave_address":            false,
	"list_name":                false,
	"mail_host":                false,
	"no_reply_address":         false,
	"owner_address":            false,
	"posting_address":          false,
	"request_address":          false,
}

// configValue returns attribute name of st. Call with w.mu held.
func configValue(st *listState, name string) any {
	n := st.names
	switch name {
	case "admin_immed_notify":
		return st.settings.adminNotify
	case "default_member_action":
		return string(st.settings.memberAction)
	case "default_nonmember_action":
		return string(st.settings.nonmemberAction)
	case "emergency":
		return st.settings.emergency
	case "respond_to_post_requests":
		return st.settings.respond
	case "bounces_address":
		return n.bounces()
	case "fqdn_listname", "posting_address":
		return n.fqdn
	case "join_address":
		return n.join()
	case "leave_address":
		return n.leave()
	case "list_name":
		return n.local
	case "mail_host":
		return n.domain
	case "no_reply_address":
		return "noreply@" + n.domain
	case "owner_address":
		return n.owner()
	case "request_address":
		return n.request()
	}
	return nil
}

// config is listconf.py ListConfiguration (GET and PATCH).
func (c *restCall) config(st *listState, attr string) (answer, error) {
	if err := c.allow(http.MethodGet, http.MethodPatch); err != nil {
		return answer{}, err
	}
	w := c.s.w
	if c.r.Method == http.MethodGet {
		w.mu.Lock()
		defer w.mu.Unlock()
		res := map[string]any{}
		if attr == "" {
			for name := range configAttributes {
				res[name] = configValue(st, name)
			}
			return ok(res), nil
		}
		if _, known := configAttributes[attr]; !known {
			return answer{}, notFound("Unknown attribute: " + attr)
		}
		res[attr] = configValue(st, attr)
		return ok(res), nil
	}

	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if attr != "" {
		if len(p) > 1 {
			return answer{}, badRequest(fmt.Sprintf("Expected 1 attribute, got %d", len(p)))
		}
		if _, known := configAttributes[attr]; !known {
			return answer{}, notFound("Unknown attribute: " + attr)
		}
	}
	for _, k := range sortedKeys(p) {
		writable, known := configAttributes[k]
		if !known || (attr != "" && k != attr) {
			return answer{}, badRequest("Unknown attribute: " + k)
		}
		if !writable {
			return answer{}, badRequest("Read-only attribute: " + k)
		}
	}
	// Convert everything first, so that a bad value changes nothing.
	var apply []func(*listSettings)
	bad := map[string]error{}
	for _, k := range sortedKeys(p) {
		switch k {
		case "default_member_action", "default_nonmember_action":
			a, err := asAction(p[k], false)
			if err != nil {
				bad[k] = err
				continue
			}
			if k == "default_member_action" {
				apply = append(apply, func(s *listSettings) { s.memberAction = a })
			} else {
				apply = append(apply, func(s *listSettings) { s.nonmemberAction = a })
			}
		default:
			b, err := asBoolean(p[k])
			if err != nil {
				bad[k] = err
				continue
			}
			switch k {
			case "emergency":
				apply = append(apply, func(s *listSettings) { s.emergency = b })
			case "respond_to_post_requests":
				apply = append(apply, func(s *listSettings) { s.respond = b })
			case "admin_immed_notify":
				apply = append(apply, func(s *listSettings) { s.adminNotify = b })
			}
		}
	}
	if len(bad) > 0 {
		return answer{}, invalidParams(bad)
	}
	w.mu.Lock()
	for _, f := range apply {
		f(&st.settings)
	}
	w.mu.Unlock()
	return noContent, nil
}

// members serves /members and /members/{member_id}.
func (c *restCall) members(segs []string) (answer, error) {
	w := c.s.w
	if len(segs) == 0 {
		if err := c.allow(http.MethodGet, http.MethodPost); err != nil {
			return answer{}, err
		}
		if c.r.Method == http.MethodPost {
			return c.subscribe()
		}
		w.mu.Lock()
		all := make([]*membership, 0, len(w.memberIDs))
		for _, m := range w.memberIDs {
			all = append(all, m)
		}
		sort.Slice(all, func(i, j int) bool {
			if all[i].list.names.listID != all[j].list.names.listID {
				return all[i].list.names.listID < all[j].list.names.listID
			}
			if all[i].address != all[j].address {
				return all[i].address < all[j].address
			}
			return all[i].role < all[j].role
		})
		entries := make([]map[string]any, len(all))
		for i, m := range all {
			entries[i] = c.memberResource(m)
		}
		w.mu.Unlock()
		return c.collection(entries)
	}
	if len(segs) > 1 {
		return answer{}, errNotFound
	}
	if segs[0] == "find" {
		return c.findMembers()
	}
	var m *membership
	if id, ok := c.parseMemberID(segs[0]); ok {
		w.mu.Lock()
		m = w.memberIDs[id]
		w.mu.Unlock()
	}
	if m == nil {
		if err := c.allow(http.MethodGet, http.MethodPatch); err != nil {
			return answer{}, err
		}
		return answer{}, errNotFoundHere
	}
	return c.member(m)
}

// member is members.py AMember: GET and PATCH.
func (c *restCall) member(m *membership) (answer, error) {
	if err := c.allow(http.MethodGet, http.MethodPatch); err != nil {
		return answer{}, err
	}
	w := c.s.w
	if c.r.Method == http.MethodGet {
		w.mu.Lock()
		defer w.mu.Unlock()
		return ok(c.memberResource(m)), nil
	}
	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if err := unexpected(p, "address", "delivery_mode", "moderation_action"); err != nil {
		return answer{}, err
	}
	bad := map[string]error{}
	var action Action
	if v, ok := p["moderation_action"]; ok {
		if action, err = asAction(v, true); err != nil {
			bad["moderation_action"] = err
		}
	}
	var mode string
	if v, ok := p["delivery_mode"]; ok {
		mode, err = single(v)
		switch {
		case err != nil:
			bad["delivery_mode"] = err
		case mode != "regular" && mode != "plaintext_digests" && mode != "mime_digests" && mode != "summary_digests":
			bad["delivery_mode"] = errors.New("Accepted Values are: regular, plaintext_digests, mime_digests, summary_digests")
		}
	}
	if len(bad) > 0 {
		return answer{}, invalidParams(bad)
	}
	if _, ok := p["address"]; ok {
		return answer{}, badRequest("the sandbox does not change a member's address")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := p["moderation_action"]; ok {
		m.action = action
	}
	if mode != "" {
		m.deliveryMode = mode
	}
	return noContent, nil
}

// memberResource is members.py _MemberBase._resource_as_dict. Call with
// w.mu held.
func (c *restCall) memberResource(m *membership) map[string]any {
	id := c.memberID(m.id)
	res := map[string]any{
		"address":       c.link("addresses/" + m.address),
		"delivery_mode": m.deliveryMode,
		"email":         m.address,
		"list_id":       m.list.names.listID,
		"member_id":     id,
		"role":          m.role,
		"self_link":     c.link(fmt.Sprintf("members/%v", id)),
	}
	if m.action != "" {
		res["moderation_action"] = string(m.action)
	}
	return res
}

// memberID is api.from_uuid: the hexadecimal UUID in API 3.1, its integer
// value in API 3.0.
func (c *restCall) memberID(hexID string) any {
	if c.api == "3.0" {
		n, _ := new(big.Int).SetString(hexID, 16)
		return json.Number(n.String())
	}
	return hexID
}

// parseMemberID is api.to_uuid, returning the hexadecimal form.
func (c *restCall) parseMemberID(seg string) (string, bool) {
	if c.api == "3.0" {
		n, ok := new(big.Int).SetString(seg, 10)
		if !ok || n.Sign() < 0 || n.BitLen() > 128 {
			return "", false
		}
		return fmt.Sprintf("%032x", n), true
	}
	h := strings.ToLower(strings.ReplaceAll(seg, "-", ""))
	if len(h) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h, true
}
