// The members resources: members.py, /members and /members/{member_id},
// and the member ids of API 3.0 and 3.1.

package sandbox

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"
)

// members serves /members and /members/{member_id}.
func (c *restCall) members(segs []string) (answer, error) {
	w := c.s.w
	if len(segs) == 0 {
		if err := c.allow(http.MethodGet, http.MethodPost); err != nil {
			return answer{}, err
		}
		if c.r.Method == http.MethodPost {
			return c.subscribe()
		}
		w.mu.Lock()
		all := make([]*membership, 0, len(w.memberIDs))
		for _, m := range w.memberIDs {
			all = append(all, m)
		}
		sort.Slice(all, func(i, j int) bool {
			if all[i].list.names.listID != all[j].list.names.listID {
				return all[i].list.names.listID < all[j].list.names.listID
			}
			if all[i].address != all[j].address {
				return all[i].address < all[j].address
			}
			return all[i].role < all[j].role
		})
		entries := make([]map[string]any, len(all))
		for i, m := range all {
			entries[i] = c.memberResource(m)
		}
		w.mu.Unlock()
		return c.collection(entries)
	}
	if len(segs) > 1 {
		return answer{}, errNotFound
	}
	if segs[0] == "find" {
		return c.findMembers()
	}
	var m *membership
	if id, ok := c.parseMemberID(segs[0]); ok {
		w.mu.Lock()
		m = w.memberIDs[id]
		w.mu.Unlock()
	}
	if m == nil {
		if err := c.allow(http.MethodGet, http.MethodPatch); err != nil {
			return answer{}, err
		}
		return answer{}, errNotFoundHere
	}
	return c.member(m)
}

// member is members.py AMember: GET and PATCH.
func (c *restCall) member(m *membership) (answer, error) {
	if err := c.allow(http.MethodGet, http.MethodPatch); err != nil {
		return answer{}, err
	}
	w := c.s.w
	if c.r.Method == http.MethodGet {
		w.mu.Lock()
		defer w.mu.Unlock()
		return ok(c.memberResource(m)), nil
	}
	p, err := c.params()
	if err != nil {
		return answer{}, err
	}
	if err := unexpected(p, "address", "delivery_mode", "moderation_action"); err != nil {
		return answer{}, err
	}
	bad := map[string]error{}
	var action Action
	if v, ok := p["moderation_action"]; ok {
		if action, err = asAction(v, true); err != nil {
			bad["moderation_action"] = err
		}
	}
	var mode string
	if v, ok := p["delivery_mode"]; ok {
		mode, err = single(v)
		switch {
		case err != nil:
			bad["delivery_mode"] = err
		case mode != "regular" && mode != "plaintext_digests" && mode != "mime_digests" && mode != "summary_digests":
			bad["delivery_mode"] = errors.New("Accepted Values are: regular, plaintext_digests, mime_digests, summary_digests")
		}
	}
	if len(bad) > 0 {
		return answer{}, invalidParams(bad)
	}
	if _, ok := p["address"]; ok {
		return answer{}, badRequest("the sandbox does not change a member's address")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := p["moderation_action"]; ok {
		m.action = action
	}
	if mode != "" {
		m.deliveryMode = mode
	}
	return noContent, nil
}

// memberResource is members.py _MemberBase._resource_as_dict. Call with
// w.mu held.
func (c *restCall) memberResource(m *membership) map[string]any {
	id := c.memberID(m.id)
	res := map[string]any{
		"address":       c.link("addresses/" + m.address),
		"delivery_mode": m.deliveryMode,
		"email":         m.address,
		"list_id":       m.list.names.listID,
		"member_id":     id,
		"role":          m.role,
		"self_link":     c.link(fmt.Sprintf("members/%v", id)),
	}
	if m.action != "" {
		res["moderation_action"] = string(m.action)
	}
	return res
}

// memberID is api.from_uuid: the hexadecimal UUID in API 3.1, its integer
// value in API 3.0.
func (c *restCall) memberID(hexID string) any {
	if c.api == "3.0" {
		n, _ := new(big.Int).SetString(hexID, 16)
		return json.Number(n.String())
	}
	return hexID
}

// parseMemberID is api.to_uuid, returning the hexadecimal form.
func (c *restCall) parseMemberID(seg string) (string, bool) {
	if c.api == "3.0" {
		n, ok := new(big.Int).SetString(seg, 10)
		if !ok || n.Sign() < 0 || n.BitLen() > 128 {
			return "", false
		}
		return fmt.Sprintf("%032x", n), true
	}
	h := strings.ToLower(strings.ReplaceAll(seg, "-", ""))
	if len(h) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h, true
}
