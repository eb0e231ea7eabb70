package testbed

import (
	"context"
	"net/http"
	"net/url"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// SetMemberPreferences patches the preferences of address's membership of
// list, e.g. delivery_status=by_bounces (what Mailman sets when a member's
// mailbox bounces) or delivery_mode=mime_digests.
func (c *MailmanAdmin) SetMemberPreferences(ctx context.Context, list, address string, prefs url.Values) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	mid, err := c.memberID(ctx, id, list, address)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPatch, prefs, nil, "members", mid, "preferences")
}
