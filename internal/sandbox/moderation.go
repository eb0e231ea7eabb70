package sandbox

// This file is the moderation state of a simulated list, the one state that
// both the list simulator (what happens to a post) and the REST API (what
// GET and PATCH show and change) use, as in Mailman where the posting chain
// reads the settings the REST API writes. It follows Mailman 3.3's
// chains/builtin.py, rules/emergency.py and rules/moderation.py.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
)

// Action is a Mailman 3 moderation action (interfaces/action.py): the value
// of a list's default_member_action and default_nonmember_action, and of a
// member's own moderation_action.
type Action string

// The moderation actions, in the order of Mailman's enum.
const (
	ActionHold    Action = "hold"    // hold for moderation
	ActionReject  Action = "reject"  // refuse with a rejection notice
	ActionDiscard Action = "discard" // drop silently
	ActionAccept  Action = "accept"  // post, skipping the remaining rules
	ActionDefer   Action = "defer"   // no decision: the remaining rules decide (here: post)
)

var actionOrder = []Action{ActionHold, ActionReject, ActionDiscard, ActionAccept, ActionDefer}

func (a Action) valid() bool {
	for _, x := range actionOrder {
		if a == x {
			return true
		}
	}
	return false
}

// The moderation reasons Mailman's rules record, beside DefaultHoldReason.
const (
	// EmergencyReason is rules/emergency.py's reason: every post is held
	// while the list's emergency setting is on.
	EmergencyReason = "Emergency moderation is in effect for this list"
	// NonmemberReason is rules/moderation.py's reason for a post from an
	// address that is not a member of the list.
	NonmemberReason = "The message is not from a list member"
)

// The rules of the built-in chain that come before the emergency rule.
var rulesBeforeEmergency = []string{"dmarc-mitigation", "no-senders", "approved"}

// listSettings are the REST-visible settings that decide a post's fate,
// guarded by World.mu.
type listSettings struct {
	memberAction    Action // default_member_action
	nonmemberAction Action // default_nonmember_action
	emergency       bool   // emergency
	respond         bool   // respond_to_post_requests: hold notice to the poster
	adminNotify     bool   // admin_immed_notify: notice to the moderators
	// delayed makes accepted posts reach the subscribers List.Delay late
	// (Policy Delay). It is no Mailman setting, so REST leaves it alone.
	delayed bool
	// junk files the copies into every subscriber's Junk (Policy Junk).
	junk bool
}

// policy is the Policy that the settings amount to for a member without a
// moderation_action of its own.
func (s listSettings) policy() Policy {
	switch s.memberAction {
	case ActionHold:
		return Hold
	case ActionReject:
		return Reject
	case ActionDiscard:
		return Drop
	}
	switch {
	case s.delayed:
		return Delay
	case s.junk:
		return Junk
	}
	return Deliver
}

// setPolicy maps p onto default_member_action (and the delay).
func (s *listSettings) setPolicy(p Policy) {
	s.delayed, s.junk = p == Delay, p == Junk
	switch p {
	case Hold:
		s.memberAction = ActionHold
	case Reject:
		s.memberAction = ActionReject
	case Drop:
		s.memberAction = ActionDiscard
	default:
		s.memberAction = ActionDefer
	}
}

// membership is one roster entry of a list, guarded by World.mu.
type membership struct {
	id      string // member_id: a UUID, 32 hexadecimal digits
	list    *listState
	address string // lower case
	role    string // "member", "moderator" or "owner"
	// action is the member's own moderation_action; "" means the list's
	// default_member_action applies.
	action       Action
	deliveryMode string // delivery_mode, stored only
}

// newMemberID returns a random UUID in hexadecimal, as Mailman's member ids.
func newMemberID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return hex.EncodeToString(b[:])
}

// roster returns st's roster of role ("member", "moderator" or "owner"),
// nil for another role.
func (st *listState) roster(role string) map[string]*membership {
	switch role {
	case "member":
		return st.members
	case "moderator":
		return st.moderators
	case "owner":
		return st.owners
	}
	return nil
}

// addMembership adds address to st's roster in role, once. Call with
// World.mu held or before the world starts.
func (w *World) addMembership(st *listState, address, role string) *membership {
	roster := st.roster(role)
	if m, ok := roster[address]; ok {
		return m
	}
	m := &membership{id: newMemberID(), list: st, address: address, role: role, deliveryMode: "regular"}
	roster[address] = m
	st.rosterOrder = append(st.rosterOrder, m)
	w.memberIDs[m.id] = m
	return m
}

// verdict is what the posting chain decides for one post.
type verdict struct {
	action Action   // accept (post), hold, reject or discard
	reason string   // the moderation reason, for hold and reject
	hits   []string // X-Mailman-Rule-Hits
	misses []string // X-Mailman-Rule-Misses
	// modAction is msgdata's member_moderation_action, "" when no
	// moderation rule hit.
	modAction string
	// sender is msgdata's moderation_sender.
	sender string
}

// decide runs the moderation part of Mailman's built-in chain for a post
// whose senders (msg.senders) are given: the emergency rule, then the
// member-moderation rule (the member's moderation_action, else
// default_member_action), then the nonmember-moderation rule
// (default_nonmember_action). Call with World.mu held.
func (st *listState) decide(senders []string) verdict {
	sender := ""
	if len(senders) > 0 {
		sender = senders[0]
	}
	if st.settings.emergency {
		return verdict{action: ActionHold, reason: EmergencyReason, hits: []string{"emergency"},
			misses: append([]string(nil), rulesBeforeEmergency...), sender: sender}
	}
	before := append([]string(nil), rulesBeforeMemberModeration...)
	var member *membership
	for _, s := range senders {
		if m, ok := st.members[s]; ok {
			member = m
			break
		}
	}
	if member != nil {
		action := member.action
		if action == "" {
			action = st.settings.memberAction
		}
		if action != ActionDefer {
			reason := st.HoldReason
			if action == ActionReject {
				reason = st.RejectReason
			}
			if reason == "" {
				reason = DefaultHoldReason
			}
			return verdict{action: action, reason: reason, hits: []string{"member-moderation"}, misses: before,
				modAction: string(action), sender: member.address}
		}
		return verdict{action: ActionAccept, misses: allRuleMisses()}
	}
	action := st.settings.nonmemberAction
	if action == ActionDefer {
		return verdict{action: ActionAccept, misses: allRuleMisses()}
	}
	return verdict{action: action, reason: NonmemberReason, hits: []string{"nonmember-moderation"},
		misses: append(before, "member-moderation"), modAction: string(action), sender: sender}
}

// allRuleMisses is X-Mailman-Rule-Misses of a post that no rule stopped.
func allRuleMisses() []string {
	out := append([]string(nil), rulesBeforeMemberModeration...)
	out = append(out, "member-moderation")
	return append(out, rulesAfterMemberModeration...)
}

// messageSenders is Mailman's msg.senders with its default sender_headers
// ("from from_ reply-to sender"): every address of From:, the envelope
// sender, Reply-To: and Sender:, lower case, without duplicates.
func messageSenders(m *rawMessage, envelopeFrom string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, key := range []string{"From", "", "Reply-To", "Sender"} {
		if key == "" {
			add(envelopeFrom)
			continue
		}
		for _, f := range m.fields {
			if !strings.EqualFold(f.key, key) {
				continue
			}
			addrs, err := mail.ParseAddressList(decodeHeader(f.value))
			if err != nil {
				continue
			}
			for _, a := range addrs {
				add(a.Address)
			}
		}
	}
	return out
}

// parseAction checks a configured Action, allowing "" for def.
func parseAction(a Action, def Action) (Action, error) {
	if a == "" {
		return def, nil
	}
	if !a.valid() {
		return "", fmt.Errorf("unknown action %q (want hold, reject, discard, accept or defer)", string(a))
	}
	return a, nil
}
