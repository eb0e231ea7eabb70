package mailmanrest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ListsPageSize is how many lists one request for /lists asks for: Mailman
// sends each list's resource (about 400 bytes), so a page is about 40 KB.
const ListsPageSize = 100

// maxListAddress bounds a list address the server names in /lists; a
// longer one is skipped, never stored.
const maxListAddress = 254

// ListsPage returns one page (from 1) of the server's lists, their posting
// addresses in the server's order (Mailman sorts by list_id), and the total
// number of lists. Addresses are lower-cased; an entry whose address is not
// local@domain, too long or not plain text is left out and counted in
// skipped, never passed on.
func (c *Client) ListsPage(ctx context.Context, page, count int) (lists []string, total, skipped int, err error) {
	if page < 1 || count < 1 {
		return nil, 0, 0, fmt.Errorf("mailman lists page %d of %d: want both at least 1", page, count)
	}
	var p struct {
		TotalSize int `json:"total_size"`
		Entries   []struct {
			FQDNListname string `json:"fqdn_listname"`
		} `json:"entries"`
	}
	q := url.Values{"count": {fmt.Sprint(count)}, "page": {fmt.Sprint(page)}}
	if err := c.Do(ctx, http.MethodGet, q, nil, &p, "lists"); err != nil {
		return nil, 0, 0, err
	}
	for _, e := range p.Entries {
		a := strings.ToLower(e.FQDNListname)
		if _, err := ListID(a); err != nil || len(a) > maxListAddress || restText(a, maxListAddress) != a {
			skipped++
			continue
		}
		lists = append(lists, a)
	}
	return lists, p.TotalSize, skipped, nil
}

// ListPolicy is what decides whether a post to a list goes out without a
// moderator: the default actions for members and nonmembers, emergency
// moderation, and the nonmember address patterns with an action of their
// own (counted, not listed: they are addresses of people).
type ListPolicy struct {
	DefaultMemberAction    string // accept, hold, reject, discard, defer; "unknown: x" otherwise
	DefaultNonmemberAction string
	Emergency              bool
	// AcceptTheseNonmembers ... DiscardTheseNonmembers count the entries
	// of the *_these_nonmembers settings; -1 when the server does not have
	// the setting (Mailman before 3.3).
	AcceptTheseNonmembers, HoldTheseNonmembers, RejectTheseNonmembers, DiscardTheseNonmembers int
}

// Policy reads list's posting policy: one request, for its configuration.
func (c *Client) Policy(ctx context.Context, list string) (ListPolicy, error) {
	id, err := ListID(list)
	if err != nil {
		return ListPolicy{}, err
	}
	var cfg struct {
		DefaultMemberAction    string    `json:"default_member_action"`
		DefaultNonmemberAction string    `json:"default_nonmember_action"`
		Emergency              bool      `json:"emergency"`
		Accept                 *[]string `json:"accept_these_nonmembers"`
		Hold                   *[]string `json:"hold_these_nonmembers"`
		Reject                 *[]string `json:"reject_these_nonmembers"`
		Discard                *[]string `json:"discard_these_nonmembers"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &cfg, "lists", id, "config"); err != nil {
		return ListPolicy{}, err
	}
	count := func(p *[]string) int {
		if p == nil {
			return -1
		}
		return len(*p)
	}
	return ListPolicy{
		DefaultMemberAction:    restSetting(cfg.DefaultMemberAction, MailmanActions),
		DefaultNonmemberAction: restSetting(cfg.DefaultNonmemberAction, MailmanActions),
		Emergency:              cfg.Emergency,
		AcceptTheseNonmembers:  count(cfg.Accept),
		HoldTheseNonmembers:    count(cfg.Hold),
		RejectTheseNonmembers:  count(cfg.Reject),
		DiscardTheseNonmembers: count(cfg.Discard),
	}, nil
}
