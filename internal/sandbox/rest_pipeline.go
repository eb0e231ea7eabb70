package sandbox

// Mailman 3.3's rest/queues.py (GET /queues, /queues/{name}) and members.py
// FindMembers (GET /members/find), for listprobe's pipeline reads. The
// simulated lists hand each post over at once, so every queue is empty;
// every member's delivery is enabled.

import (
	"net/http"
	"strings"
)

// mailmanQueues are the switchboards of a Mailman 3.3 installation, as its
// GET /queues lists them (sorted).
var mailmanQueues = []string{"archive", "bad", "bounces", "command", "digest", "in", "nntp", "out", "pipeline", "retry", "shunt", "virgin"}

func (c *restCall) queueResource(name string) map[string]any {
	return map[string]any{
		"name":      name,
		"directory": "/var/lib/mailman3/queue/" + name,
		"count":     0,
		"files":     []string{},
		"self_link": c.link("queues/" + name),
	}
}

// queues is GET /queues and GET /queues/{name}.
func (c *restCall) queues(segs []string) (answer, error) {
	if err := c.allow(http.MethodGet); err != nil {
		return answer{}, err
	}
	switch len(segs) {
	case 0:
		entries := make([]map[string]any, len(mailmanQueues))
		for i, q := range mailmanQueues {
			entries[i] = c.queueResource(q)
		}
		return c.collection(entries)
	case 1:
		for _, q := range mailmanQueues {
			if q == segs[0] {
				return ok(c.queueResource(q)), nil
			}
		}
	}
	return answer{}, errNotFound
}

// findMembers is GET /members/find with list_id, role and delivery_status:
// the simulated members' delivery is always enabled.
func (c *restCall) findMembers() (answer, error) {
	if err := c.allow(http.MethodGet); err != nil {
		return answer{}, err
	}
	q := c.r.URL.Query()
	listID, role, status := strings.ToLower(q.Get("list_id")), q.Get("role"), q.Get("delivery_status")
	w := c.s.w
	w.mu.Lock()
	var entries []map[string]any
	for _, m := range w.memberIDs {
		if (listID != "" && m.list.names.listID != listID) || (role != "" && m.role != role) || (status != "" && status != "enabled") {
			continue
		}
		entries = append(entries, c.memberResource(m))
	}
	w.mu.Unlock()
	return c.collection(entries)
}
