package sandbox

// This file serves the REST calls that set a list up, which testbeds and
// tests make through testbed.MailmanAdmin (CreateList, DeleteList, Subscribe):
// Mailman 3.3's rest/domains.py, AllLists.on_post and AList.on_delete in
// rest/lists.py, and AllMembers.on_post in rest/members.py.
//
//	GET, POST    /domains            (mail_host, description, alias_domain, owner)
//	GET          /domains/{mail_host}
//	POST         /lists              (fqdn_listname, style_name)
//	DELETE       /lists/{list}
//	POST         /members            (list_id, subscriber, role, display_name, delivery_mode,
//	                                  pre_verified, pre_confirmed, pre_approved, send_welcome_message)
//
// A list created here starts with Mailman's defaults (default_member_action
// defer, default_nonmember_action hold, notices on) and no members: unlike
// a List of Options, it does not count every Account as a member.
// Subscribing is immediate, whatever the pre_* flags say (Mailman would
// start a confirmation or approval workflow without them), and sends no
// welcome message; a subscribed member that is an Account receives the
// list's copies, and an owner or moderator that is an Account receives the
// "requires approval" notices.

import (
	"net/http"
	"sort"
	"strings"
)

// created is helpers.created: 201 with a Location and no body.
func created(location string) answer {
	return answer{status: http.StatusCreated, location: location}
}

// domains serves /domains and /domains/{mail_host}.
func (c *restCall) domains(segs []string) (answer, error) {
	w := c.s.w
	switch len(segs) {
	case 0:
		if err := c.allow(http.MethodGet, http.MethodPost); err != nil {
			return answer{}, err
		}
		if c.r.Method == http.MethodPost {
			return c.createDomain()
		}
		w.mu.Lock()
		names := make([]string, 0, len(w.domains))
		for d := range w.domains {
			names = append(names, d)
		}
		w.mu.Unlock()
		sort.Strings(names)
		entries := make([]map[string]any, len(names))
		for i, d := range names {
			entries[i] = c.domainResource(d)
		}
		return c.collection(entries)
	case 1:
		if err := c.allow(http.MethodGet); err != nil {
			return answer{}, err
		}
		d := strings.ToLower(segs[0])
		w.mu.Lock()
		known := w.domains[d]
		w.mu.Unlock()
		if !known {
			return answer{}, errNotFoundHere
		}
		return ok(c.domainResource(d)), nil
	}
	return answer{}, errNotFound
}

// domainResource is domains.py _DomainBase._resource_as_dict.
func (c *restCall) domainResource(d string) map[string]any {
	return map[string]any{
		"alias_domain": nil,
		"description":  nil,
		"mail_host":    d,
		"self_link":    c.link("domains/" + d),
	}
}

// createDomain is domains.py AllDomains.on_post.
func (c *restCall) createDomain() (answer, error) {
	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if err := unexpected(p, "mail_host", "description", "alias_domain", "owner"); err != nil {
		return answer{}, err
	}
	v, present := p["mail_host"]
	if !present {
		return answer{}, badRequest("Missing Parameter: mail_host")
	}
	host, err := single(v)
	if err != nil {
		return answer{}, invalidParams(map[string]error{"mail_host": err})
	}
	host = strings.ToLower(strings.TrimSpace(host))
	if host == "" || strings.ContainsAny(host, "@/ \t") {
		return answer{}, badRequest("Invalid domain: " + host)
	}
	w := c.s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.domains[host] {
		return answer{}, badRequest("Duplicate email host: " + host)
	}
	w.domains[host] = true
	return created(c.link("domains/" + host)), nil
}

// createList is lists.py AllLists.on_post with app/lifecycle.py
// create_list.
func (c *restCall) createList() (answer, error) {
	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if err := unexpected(p, "fqdn_listname", "style_name"); err != nil {
		return answer{}, err
	}
	v, present := p["fqdn_listname"]
	if !present {
		return answer{}, badRequest("Missing Parameter: fqdn_listname")
	}
	fqdn, err := single(v)
	if err != nil {
		return answer{}, invalidParams(map[string]error{"fqdn_listname": err})
	}
	addr, err := parseAddress(fqdn)
	if err != nil {
		return answer{}, badRequest("Invalid list posting address: " + fqdn)
	}
	w := c.s.w
	st := newListState(List{Address: addr, Policy: Deliver}, addr)
	st.Address = addr
	st.settings = listSettings{memberAction: ActionDefer, nonmemberAction: ActionHold, respond: true, adminNotify: true}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.domains[st.names.domain] {
		return answer{}, badRequest("Domain does not exist: " + st.names.domain)
	}
	if _, exists := w.lists[addr]; exists {
		return answer{}, badRequest("Mailing list exists")
	}
	// Sandbox: a list's addresses must be free, or mail could not be
	// routed to it.
	service := []string{st.names.bounces(), st.names.owner(), st.names.request(), st.names.join(), st.names.leave()}
	for _, a := range append([]string{addr}, service...) {
		_, isAccount := w.accounts[a]
		_, isAlias := w.aliases[a]
		_, isList := w.lists[a]
		if isAccount || isAlias || (isList && a != addr) {
			return answer{}, badRequest("Invalid list posting address: " + addr + " (sandbox: " + a + " is taken)")
		}
	}
	w.lists[addr] = st
	w.byID[st.names.listID] = st
	for _, a := range service {
		w.aliases[a] = st
	}
	return created(c.link("lists/" + st.names.listID)), nil
}

// deleteList is lists.py AList.on_delete: the list goes with its rosters
// and held posts.
func (c *restCall) deleteList(st *listState) (answer, error) {
	w := c.s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lists[st.names.fqdn] != st {
		return answer{}, errNotFoundHere // deleted meanwhile
	}
	delete(w.lists, st.names.fqdn)
	delete(w.byID, st.names.listID)
	for a, owner := range w.aliases {
		if owner == st {
			delete(w.aliases, a)
		}
	}
	for _, m := range st.rosterOrder {
		delete(w.memberIDs, m.id)
	}
	st.deleted = true
	st.held = nil
	return noContent, nil
}

// subscribe is members.py AllMembers.on_post, without the confirmation
// and approval workflows.
func (c *restCall) subscribe() (answer, error) {
	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if err := unexpected(p, "list_id", "subscriber", "display_name", "delivery_mode", "role",
		"pre_verified", "pre_confirmed", "pre_approved", "send_welcome_message"); err != nil {
		return answer{}, err
	}
	values, role, subscriber, err := subscribeParams(p)
	if err != nil {
		return answer{}, err
	}
	var missing []string
	for _, k := range []string{"list_id", "subscriber"} {
		if _, present := values[k]; !present {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return answer{}, badRequest("Missing Parameter: " + strings.Join(missing, ", "))
	}
	w := c.s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.byID[strings.ToLower(values["list_id"])]
	if st == nil {
		return answer{}, badRequest("No such list")
	}
	if subscriber == st.names.fqdn {
		return answer{}, badRequest("List posting address cannot subscribe")
	}
	if _, already := st.roster(role)[subscriber]; already {
		if role == "member" {
			return answer{}, &restError{http.StatusConflict, "Member already subscribed"}
		}
		return answer{}, badRequest(subscriber + " is already an " + role + " of " + st.names.fqdn)
	}
	m := w.addMembership(st, subscriber, role)
	if dm, present := values["delivery_mode"]; present {
		m.deliveryMode = dm
	}
	if _, isAccount := w.accounts[subscriber]; isAccount {
		if role == "member" {
			st.subs = append(st.subs, subscriber)
		} else if !contains(st.mods, subscriber) {
			st.mods = append(st.mods, subscriber)
		}
	}
	return created(c.link("members/" + toString(c.memberID(m.id)))), nil
}

// subscribeParams converts and checks the parameters of a subscription:
// the single values given, the role (default member) and the subscriber's
// address.
func subscribeParams(p map[string][]string) (values map[string]string, role, subscriber string, err error) {
	bad := map[string]error{}
	values = map[string]string{}
	for _, k := range []string{"list_id", "subscriber", "display_name", "delivery_mode", "role"} {
		if v, present := p[k]; present {
			s, err := single(v)
			if err != nil {
				bad[k] = err
				continue
			}
			values[k] = s
		}
	}
	for _, k := range []string{"pre_verified", "pre_confirmed", "pre_approved", "send_welcome_message"} {
		if v, present := p[k]; present {
			if _, err := asBoolean(v); err != nil {
				bad[k] = err
			}
		}
	}
	role = "member"
	if r, present := values["role"]; present {
		switch r {
		case "member", "owner", "moderator":
			role = r
		case "nonmember":
			return nil, "", "", badRequest("the sandbox keeps no nonmember roster")
		default:
			bad["role"] = errorString("Accepted Values are: owner, moderator, member, nonmember")
		}
	}
	if dm, present := values["delivery_mode"]; present && dm != "regular" && dm != "plaintext_digests" && dm != "mime_digests" && dm != "summary_digests" {
		bad["delivery_mode"] = errorString("Accepted Values are: regular, plaintext_digests, mime_digests, summary_digests")
	}
	if s, present := values["subscriber"]; present {
		var err error
		if subscriber, err = parseAddress(s); err != nil {
			bad["subscriber"] = errorString("")
		}
	}
	if len(bad) > 0 {
		return nil, "", "", invalidParams(bad)
	}
	return values, role, subscriber, nil
}

// errorString is an error that is only its text, for validator messages.
type errorString string

func (e errorString) Error() string { return string(e) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// toString renders a member id as it appears in a URL.
func toString(id any) string {
	switch id := id.(type) {
	case string:
		return id
	case interface{ String() string }:
		return id.String()
	}
	return ""
}
