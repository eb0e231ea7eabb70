package checks

import (
	"context"
	"errors"
	"net/http"
)

// MailmanOptions says how to reach a Mailman 3 REST API.
type MailmanOptions struct {
	// URL is the API root including its version, e.g.
	// "http://127.0.0.1:8001/3.1".
	URL      string
	Username string
	Password string
	// Client makes the requests. Nil: a client with a 30s timeout.
	Client *http.Client
}

// Mailman is a client for the parts of the Mailman 3 REST API that listprobe
// uses: the held-message queue and the moderation settings of a list.
type Mailman struct {
	opts MailmanOptions
}

// NewMailman returns a client for opts.
func NewMailman(opts MailmanOptions) *Mailman { return &Mailman{opts: opts} }

// HeldMessage is one post in a list's moderation queue.
type HeldMessage struct {
	RequestID int
	MessageID string // with angle brackets, as Mailman stores it
	Sender    string
	Subject   string
	Reason    string
}

// Held returns every post held for moderation on list (its posting address).
func (c *Mailman) Held(ctx context.Context, list string) ([]HeldMessage, error) {
	return nil, errors.New("not implemented")
}

// Discard discards the held post requestID of list. Callers discard only
// probes: listprobe never accepts a held post.
func (c *Mailman) Discard(ctx context.Context, list string, requestID int) error {
	return errors.New("not implemented")
}

// ListModeration is the part of a list's configuration that decides whether
// posts are delivered, held or refused.
type ListModeration struct {
	DefaultMemberAction    string // accept, hold, reject, discard, defer
	DefaultNonmemberAction string
	Emergency              bool
}

// Moderation returns list's moderation settings.
func (c *Mailman) Moderation(ctx context.Context, list string) (ListModeration, error) {
	return ListModeration{}, errors.New("not implemented")
}

// MemberModeration returns the moderation_action of address's membership of
// list, or "" when the member has none of its own (the list default applies).
func (c *Mailman) MemberModeration(ctx context.Context, list, address string) (string, error) {
	return "", errors.New("not implemented")
}
