package mailmanrest

import (
	"encoding/json"
	"testing"
)

// Mailman 3.3.5 and later write some moderation reasons as a format string
// with arguments; one of them must not make the whole held queue unreadable.
func TestMailmanHeldEntryDecodesEveryReasonForm(t *testing.T) {
	raw := `{"request_id": 3, "message_id": "<a@example.org>", "reason": "The message is not from a list member; The sender is in the nonmember hold list",
		"moderation_reasons": ["The message is not from a list member", ["The sender is in the nonmember {} list", "hold"]],
		"rule_hits": ["nonmember-moderation"], "hold_date": "2026-11-25T16:05:12.345678"}`
	var e mailmanHeldEntry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	h := e.held()
	want := []string{"The message is not from a list member", "The sender is in the nonmember hold list"}
	if len(h.Reasons) != 2 || h.Reasons[0] != want[0] || h.Reasons[1] != want[1] {
		t.Errorf("Reasons = %q, want %q", h.Reasons, want)
	}
	if h.HoldDate.IsZero() || h.RequestID != 3 {
		t.Errorf("held = %+v", h)
	}
}
