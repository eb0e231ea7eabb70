// Package hyperkitty reads HyperKitty's REST API: whether a list's archive
// holds a message, by Mailman's Message-ID-Hash.
package hyperkitty

import (
	"context"
	"crypto/sha1"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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

// EmailURL is where HyperKitty's REST API shows one archived
// message: <base>/api/list/<list>/email/<hash>/, with base the HyperKitty
// root (e.g. https://lists.example.org/hyperkitty/).
func EmailURL(base, list, messageID string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("hyperkitty URL %q: want http:// or https:// with a host", base)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	u = u.JoinPath("api", "list", list, "email", MessageIDHash(messageID))
	return u.String() + "/", nil
}

// URLFromArchivedAt turns a list copy's Archived-At field (RFC
// 5064), which Mailman's HyperKitty archiver sets to the message's page
// <base>/list/<list>/message/<hash>/, into the API URL of the same message.
func URLFromArchivedAt(archivedAt string) (string, bool) {
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

// Has asks HyperKitty's API whether it archived the message at
// emailURL (from EmailURL): 200 with the message's own
// message_id_hash is yes, 404 is not (yet).
func Has(ctx context.Context, client *http.Client, emailURL, messageID string) (bool, error) {
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
