package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SetMemberPreferences patches the preferences of address's membership of
// list, e.g. delivery_status=by_bounces (what Mailman sets when a member's
// mailbox bounces) or delivery_mode=mime_digests.
func (c *MailmanAdmin) SetMemberPreferences(ctx context.Context, list, address string, prefs url.Values) error {
	id, err := listID(list)
	if err != nil {
		return err
	}
	var m struct {
		MemberID json.RawMessage `json:"member_id"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &m, "lists", id, "member", address); err != nil {
		return err
	}
	var mid string
	if json.Unmarshal(m.MemberID, &mid) != nil {
		mid = strings.TrimSpace(string(m.MemberID))
	}
	if mid == "" || mid == "null" {
		return fmt.Errorf("mailman membership of %s in %s: no member_id in the answer", address, list)
	}
	return c.do(ctx, http.MethodPatch, prefs, nil, "members", mid, "preferences")
}
