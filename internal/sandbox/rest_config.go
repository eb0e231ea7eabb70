// A list's configuration resource: listconf.py ListConfiguration, GET and
// PATCH of the attributes the simulator acts on.

package sandbox

import (
	"fmt"
	"net/http"
)

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
	if c.r.Method == http.MethodGet {
		return c.getConfig(st, attr)
	}
	return c.patchConfig(st, attr)
}

// getConfig answers a GET of the whole configuration or of one attribute.
func (c *restCall) getConfig(st *listState, attr string) (answer, error) {
	w := c.s.w
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

// patchConfig answers a PATCH: every attribute named must be known and
// writable, and every value must convert, before any changes.
func (c *restCall) patchConfig(st *listState, attr string) (answer, error) {
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
	apply, err := configChanges(p)
	if err != nil {
		return answer{}, err
	}
	w := c.s.w
	w.mu.Lock()
	for _, f := range apply {
		f(&st.settings)
	}
	w.mu.Unlock()
	return noContent, nil
}

// configChanges converts every parameter first, so that a bad value
// changes nothing, and returns the changes to apply.
func configChanges(p map[string][]string) ([]func(*listSettings), error) {
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
		return nil, invalidParams(bad)
	}
	return apply, nil
}
