package checks

import (
	"context"
	"crypto/sha1"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// MessageIDHash is Mailman's Message-ID-Hash of a Message-ID (angle
// brackets optional): the base32 SHA-1 of the id without its brackets
// (mailman/utilities/email.py add_message_hash). HyperKitty names an
// archived message by it.
func MessageIDHash(messageID string) string {
	id := strings.TrimSpace(messageID)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = id[1 : len(id)-1]
	}
	sum := sha1.Sum([]byte(id))
	return base32.StdEncoding.EncodeToString(sum[:])
}

// HyperKittyEmailURL is where HyperKitty's REST API shows one archived
// message: <base>/api/list/<list>/email/<hash>/, with base the HyperKitty
// root (e.g. https://lists.example.org/hyperkitty/).
func HyperKittyEmailURL(base, list, messageID string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("hyperkitty URL %q: want http:// or https:// with a host", base)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	u = u.JoinPath("api", "list", list, "email", MessageIDHash(messageID))
	return u.String() + "/", nil
}

// HyperKittyURLFromArchivedAt turns a list copy's Archived-At field (RFC
// 5064), which Mailman's HyperKitty archiver sets to the message's page
// <base>/list/<list>/message/<hash>/, into the API URL of the same message.
func HyperKittyURLFromArchivedAt(archivedAt string) (string, bool) {
	v := strings.Trim(strings.TrimSpace(archivedAt), "<>")
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	p := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(p, "/list/")
	if i < 0 {
		return "", false
	}
	rest := strings.Split(p[i+len("/list/"):], "/")
	if len(rest) != 3 || rest[1] != "message" || rest[0] == "" || rest[2] == "" {
		return "", false
	}
	u.Path = p[:i] + "/api/list/" + rest[0] + "/email/" + rest[2] + "/"
	u.RawPath, u.RawQuery, u.Fragment, u.User = "", "", "", nil
	return u.String(), true
}

// HyperKittyHas asks HyperKitty's API whether it archived the message at
// emailURL (from HyperKittyEmailURL): 200 with the message's own
// message_id_hash is yes, 404 is not (yet).
func HyperKittyHas(ctx context.Context, client *http.Client, emailURL, messageID string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, emailURL, nil)
	if err != nil {
		return false, fmt.Errorf("hyperkitty: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("hyperkitty GET %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, fmt.Errorf("hyperkitty GET %s: %w", req.URL.Redacted(), err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("hyperkitty GET %s: %s", req.URL.Redacted(), resp.Status)
	}
	var e struct {
		Hash string `json:"message_id_hash"`
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return false, fmt.Errorf("hyperkitty GET %s: not HyperKitty's JSON: %w", req.URL.Redacted(), err)
	}
	return e.Hash == MessageIDHash(messageID), nil
}

// ArchiveFolderHas logs in with opts, examines opts.Mailbox (read-only:
// nothing changes, not even \Recent) and searches it for messageID: the
// generic archive, a mailbox that keeps every post of a list.
func ArchiveFolderHas(ctx context.Context, opts MailboxOptions, messageID string) (bool, error) {
	m := NewMailbox(opts)
	s := &mailboxSession{signal: make(chan struct{}, 1), timeout: m.cmdTimeout}
	c, err := m.dial(ctx, s)
	if err != nil {
		return false, fmt.Errorf("archive folder %s: %w", opts.Address, err)
	}
	s.c = c
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := s.do(func() error { return c.Login(opts.Username, opts.Password).Wait() }); err != nil {
		return false, fmt.Errorf("archive folder %s: login as %s: %w", opts.Address, opts.Username, err)
	}
	if err := s.do(func() error {
		_, err := c.Select(m.opts.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		return err
	}); err != nil {
		return false, fmt.Errorf("archive folder %s: examine %s: %w", opts.Address, m.opts.Mailbox, err)
	}
	id := strings.Trim(strings.TrimSpace(messageID), "<>")
	if id == "" {
		return false, errors.New("archive folder: no Message-ID to look for")
	}
	var found bool
	err = s.do(func() error {
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
		if err == nil {
			found = len(data.AllUIDs()) > 0
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("archive folder %s: search: %w", opts.Address, err)
	}
	c.Logout().Wait()
	return found, nil
}
