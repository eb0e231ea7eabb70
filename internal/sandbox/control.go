// What a test changes in a running world: a list's policy and its held
// queue.

package sandbox

import "strings"

// SetPolicy changes what list does with the next members' posts: it sets
// default_member_action, as a REST PATCH does (Deliver and Delay: defer,
// Hold: hold, Reject: reject, Drop: discard), and whether accepted posts
// arrive List.Delay late. Emergency, default_nonmember_action and
// members' own moderation actions stay as they are. An unknown list or
// policy is ignored (and logged): the signature has no error to keep the
// call convenient in tests.
func (w *World) SetPolicy(list string, p Policy) {
	addr := strings.ToLower(strings.TrimSpace(list))
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.lists[addr]
	if !ok || !p.valid() || (p == Delay && st.Delay <= 0) {
		w.log.Error("sandbox: SetPolicy ignored", "list", list, "policy", string(p))
		return
	}
	st.settings.setPolicy(p)
}

// Policy returns the current policy of list, or "" for an unknown list. It
// follows default_member_action, whoever set it (SetPolicy or a REST
// PATCH): hold is Hold, reject Reject, discard Drop, and accept or defer
// Deliver (Delay if the list was set to Delay). It does not show the
// emergency setting or members' own moderation actions.
func (w *World) Policy(list string) Policy {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.lists[strings.ToLower(strings.TrimSpace(list))]; ok {
		return st.settings.policy()
	}
	return ""
}

// Held returns the posts list holds for moderation, oldest first.
func (w *World) Held(list string) []HeldMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.lists[strings.ToLower(strings.TrimSpace(list))]
	if !ok {
		return nil
	}
	out := make([]HeldMessage, len(st.held))
	for i, h := range st.held {
		out[i] = h.clone()
	}
	return out
}

// clone copies h deeply enough for the caller to keep.
func (h HeldMessage) clone() HeldMessage {
	h.Raw = append([]byte(nil), h.Raw...)
	h.RuleHits = append([]string(nil), h.RuleHits...)
	h.ruleMisses = append([]string(nil), h.ruleMisses...)
	return h
}

// DiscardHeld drops a held post, as a moderator's "discard" does, and
// reports whether it was held.
func (w *World) DiscardHeld(list string, requestID int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st, ok := w.lists[strings.ToLower(strings.TrimSpace(list))]
	if !ok {
		return false
	}
	for i, h := range st.held {
		if h.RequestID == requestID {
			st.held = append(st.held[:i], st.held[i+1:]...)
			return true
		}
	}
	return false
}
