package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// MailmanAdmin changes lists through Mailman 3's REST API: creates and
// deletes them, subscribes members, changes settings. Tests and testbeds use
// it to put a real list into the states listprobe must recognise; listprobe
// itself only reads (mailmanrest.Client), which is why these calls live here and
// not in the production client.
//
// Lists are named by their posting address, as in mailmanrest.Client.
type MailmanAdmin struct {
	URL      string // API root with its version, e.g. http://127.0.0.1:8001/3.1
	Username string
	Password string
	Client   *http.Client // nil: a client with a 30s timeout
}

// MailmanAdmin returns an admin client for the testbed's Mailman.
func (e Env) MailmanAdmin(t testing.TB) *MailmanAdmin {
	t.Helper()
	return &MailmanAdmin{URL: e.Get(t, "MAILMAN_URL"), Username: e.Get(t, "MAILMAN_USER"), Password: e.Secret(t, "MAILMAN_PASSWORD_FILE")}
}

// rest is the production REST client for the same server: MailmanAdmin
// sends its requests through it, so that both read answers and errors
// (*mailmanrest.Error) the same way.
func (c *MailmanAdmin) rest() *mailmanrest.Client {
	return mailmanrest.New(mailmanrest.Options{URL: c.URL, Username: c.Username, Password: c.Password, Client: c.Client})
}

func (c *MailmanAdmin) do(ctx context.Context, method string, form url.Values, out any, segments ...string) error {
	return c.rest().Do(ctx, method, nil, form, out, segments...)
}

// CreateList creates list, and its domain when missing, with its archiver
// rows (see makeArchivers).
func (c *MailmanAdmin) CreateList(ctx context.Context, list string) error {
	if err := c.createList(ctx, list); err != nil {
		return err
	}
	return c.makeArchivers(ctx, list)
}

// makeArchivers has Mailman's REST runner write list's archiver rows now,
// before anything is posted to it. Mailman 3.3.8 writes them when a list
// is first used (ListArchiverSet: look for each system archiver's row, add
// it if missing) with no unique constraint: the pipeline runner adds them
// for a list's first post (the RFC 2369 headers) and, before it commits,
// has already queued the post for the archive runner, which adds another
// "mhonarc" row. From then on every post to the list raises "Multiple rows
// were found when one or none was required" in the out runner and is
// shunted: the list's probes end lost. REST commits the rows at once, so
// the runners find them.
func (c *MailmanAdmin) makeArchivers(ctx context.Context, list string) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	// A REST server without the resource (internal/sandbox's) keeps no
	// archiver rows to race over.
	if err := c.do(ctx, http.MethodGet, nil, nil, "lists", id, "archivers"); err != nil && !mailmanrest.IsNotFound(err) {
		return fmt.Errorf("mailman: archivers of %s: %w", list, err)
	}
	return nil
}

func (c *MailmanAdmin) createList(ctx context.Context, list string) error {
	if _, err := mailmanrest.ListID(list); err != nil {
		return err
	}
	_, domain, _ := strings.Cut(list, "@")
	if err := c.do(ctx, http.MethodGet, nil, nil, "domains", domain); mailmanrest.IsNotFound(err) {
		if err := c.do(ctx, http.MethodPost, url.Values{"mail_host": {domain}}, nil, "domains"); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	// Mailman 3.3 creates lists badly in parallel (the test packages do):
	// its lock on the MTA maps can expire under load and the request fails
	// with a 500 after the list was made, or before. Look, and try again.
	id, _ := mailmanrest.ListID(list)
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		err = c.do(ctx, http.MethodPost, url.Values{"fqdn_listname": {list}}, nil, "lists")
		if err == nil {
			return nil
		}
		// A 500 or a timeout may come after the list was made, and a retry
		// of an attempt that made it hears "Mailing list exists": look.
		if (attempt > 0 || transientREST(err)) && c.do(ctx, http.MethodGet, nil, nil, "lists", id) == nil {
			return nil // made after all
		}
		if !transientREST(err) {
			return err
		}
	}
	return err
}

// transientREST says whether a failed request to the testbed's Mailman may
// work when tried again: a 500 (its lock on the MTA maps expired under
// load) or no answer within the client's timeout (its SQLite database
// locked by a runner).
func transientREST(err error) bool {
	var re *mailmanrest.Error
	var ne net.Error
	return (errors.As(err, &re) && re.Status >= 500) || (errors.As(err, &ne) && ne.Timeout())
}

// DeleteList deletes list with its members and held posts.
func (c *MailmanAdmin) DeleteList(ctx context.Context, list string) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	// Under load Mailman may fail a deletion with a 500, or delete and
	// not answer in time: try again, and a list gone is deleted.
	for attempt := 0; ; attempt++ {
		err = c.do(ctx, http.MethodDelete, nil, nil, "lists", id)
		if err == nil || (attempt > 0 && mailmanrest.IsNotFound(err)) {
			return nil
		}
		if attempt == 4 || !transientREST(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
}

// Subscribe adds address to list in role ("member", "owner" or
// "moderator"), pre-verified and pre-approved, without a welcome message.
func (c *MailmanAdmin) Subscribe(ctx context.Context, list, address, role string) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, url.Values{
		"list_id": {id}, "subscriber": {address}, "role": {role},
		"pre_verified": {"true"}, "pre_confirmed": {"true"}, "pre_approved": {"true"},
		"send_welcome_message": {"false"},
	}, nil, "members")
}

// ListConfig returns list's whole configuration, e.g. to restore settings
// after a test changed them.
func (c *MailmanAdmin) ListConfig(ctx context.Context, list string) (map[string]any, error) {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := c.do(ctx, http.MethodGet, nil, &cfg, "lists", id, "config"); err != nil {
		return nil, err
	}
	return cfg, nil
}

// SetListConfig changes the named settings of list (a PATCH): values are
// strings, bools, numbers, string slices or nil (empty), e.g.
// {"default_member_action": "hold", "emergency": true}.
func (c *MailmanAdmin) SetListConfig(ctx context.Context, list string, settings map[string]any) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	if len(settings) == 0 {
		return nil
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	form := url.Values{}
	for _, k := range keys {
		switch v := settings[k].(type) {
		case string:
			form.Add(k, v)
		case bool:
			form.Add(k, strconv.FormatBool(v))
		case int:
			form.Add(k, strconv.Itoa(v))
		case int64:
			form.Add(k, strconv.FormatInt(v, 10))
		case float64: // what ListConfig decodes numbers into
			form.Add(k, strconv.FormatFloat(v, 'f', -1, 64))
		case []string:
			for _, s := range v {
				form.Add(k, s)
			}
		case []any:
			for _, s := range v {
				form.Add(k, fmt.Sprint(s))
			}
		case nil:
			form.Add(k, "")
		default:
			return fmt.Errorf("mailman config %s of %s: cannot send a %T", k, list, v)
		}
	}
	return c.do(ctx, http.MethodPatch, form, nil, "lists", id, "config")
}

// SetMemberModeration sets the moderation_action of address's membership of
// list; "" removes it, so that the list's default_member_action applies.
func (c *MailmanAdmin) SetMemberModeration(ctx context.Context, list, address, action string) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	mid, err := c.memberID(ctx, id, list, address)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPatch, url.Values{"moderation_action": {action}}, nil, "members", mid)
}

// memberID returns the member_id of address's membership of the list with
// this list_id.
func (c *MailmanAdmin) memberID(ctx context.Context, id, list, address string) (string, error) {
	var m struct {
		MemberID json.RawMessage `json:"member_id"` // hex string in API 3.1, integer in 3.0
	}
	if err := c.do(ctx, http.MethodGet, nil, &m, "lists", id, "member", address); err != nil {
		return "", err
	}
	var mid string
	if json.Unmarshal(m.MemberID, &mid) != nil {
		mid = strings.TrimSpace(string(m.MemberID))
	}
	if mid == "" || mid == "null" {
		return "", fmt.Errorf("mailman membership of %s in %s: no member_id in the answer", address, list)
	}
	return mid, nil
}

// retireDelay is how long RetireList waits before deleting a list: long
// enough for Mailman to have handled the list's mail in flight, and for the
// next test to have created its own list.
const retireDelay = 10 * time.Second

var retiring sync.WaitGroup

// RetireList deletes list retireDelay later, in the background. Deleting a
// list at once is a trap on the testbed: Mailman 3.3 on SQLite gives the
// next list the id of the newest list deleted, and mail of the deleted list
// still in flight recreates rows under that id (ListArchiver), so that the
// new list's posts are shunted ("Multiple rows were found when one or none
// was required"). A list deleted once a newer one exists, and after its own
// mail is done, gives nothing away. A package that retires lists waits for
// them in TestMain with WaitRetired.
func (c *MailmanAdmin) RetireList(list string) {
	retiring.Add(1)
	go func() {
		defer retiring.Done()
		time.Sleep(retireDelay)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c.DeleteList(ctx, list)
	}()
}

// WaitRetired waits until the lists RetireList was given are deleted.
func WaitRetired() { retiring.Wait() }

// HeldSubjects returns the Subjects of the posts list holds for
// moderation, as its REST held queue shows them (a test reads a held
// probe's token there, as a moderator could).
func (c *MailmanAdmin) HeldSubjects(ctx context.Context, list string) ([]string, error) {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return nil, err
	}
	var held struct {
		Entries []struct {
			Subject string `json:"subject"`
		} `json:"entries"`
	}
	if err := c.do(ctx, http.MethodGet, nil, &held, "lists", id, "held"); err != nil {
		return nil, err
	}
	var out []string
	for _, e := range held.Entries {
		out = append(out, e.Subject)
	}
	return out, nil
}
