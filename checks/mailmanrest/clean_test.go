package mailmanrest

import (
	"strings"
	"testing"
)

func TestRESTSettingsOutsideMailmansSetsAreUnknown(t *testing.T) {
	long := "hold\n" + strings.Repeat("h", 100<<10) + "\x1b[2J"
	m := Membership{ModerationAction: long, DeliveryMode: "mime_digests", DeliveryStatus: "by_bounces\x00"}.cleaned()
	if m.DeliveryMode != "mime_digests" {
		t.Errorf("a known delivery mode became %q", m.DeliveryMode)
	}
	for name, v := range map[string]string{"moderation_action": m.ModerationAction, "delivery_status": m.DeliveryStatus} {
		if !strings.HasPrefix(v, UnknownSettingPrefix) || len(v) > len(UnknownSettingPrefix)+maxRESTSetting+3 || strings.ContainsAny(v, "\n\x1b\x00") {
			t.Errorf("%s = %.100q (%d bytes), want a short, clean unknown value", name, v, len(v))
		}
	}
	if got := (Membership{ModerationAction: "default"}).cleaned().ModerationAction; got != "default" {
		t.Errorf("Mailman 3.0's \"default\" became %q", got)
	}
	lm := ListModeration{DefaultMemberAction: "defer", DefaultNonmemberAction: "HOLD"}.cleaned()
	if lm.DefaultMemberAction != "defer" || lm.DefaultNonmemberAction != "unknown: HOLD" {
		t.Errorf("cleaned moderation = %+v", lm)
	}
}

func TestHeldMessageTextIsCleaned(t *testing.T) {
	forged := "x\nOK other@lists.example.org: delivered\r\n\x1b]0;title\x07" + strings.Repeat("y", 20<<10)
	h := HeldMessage{MessageID: "<a@b>", Sender: forged, Subject: forged, Reason: forged, Reasons: make([]string, 1000), RuleHits: []string{forged}, Message: "kept\r\nas is"}.cleaned()
	for name, v := range map[string]string{"sender": h.Sender, "subject": h.Subject, "reason": h.Reason, "rule hit": h.RuleHits[0]} {
		if strings.ContainsAny(v, "\n\r\x1b\x07") || len(v) > maxRESTReason+3 {
			t.Errorf("%s: %d bytes %.100q", name, len(v), v)
		}
	}
	if len(h.Reasons) > maxRESTList || h.MessageID != "<a@b>" || h.Message != "kept\r\nas is" {
		t.Errorf("cleaned held message: %d reasons, id %q, message %q", len(h.Reasons), h.MessageID, h.Message)
	}
}
