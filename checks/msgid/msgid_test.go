package msgid

import "testing"

func TestSame(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"<abc@example.org>", "<abc@example.org>", true},
		{"<abc@example.org>", "abc@example.org", true},
		{" <abc@example.org> ", "\t<abc@example.org>", true},
		{"<abc@Example.ORG>", "<abc@example.org>", true},
		{"<abc@example.org> (comment)", "<abc@example.org>", true},
		{"<ABC@example.org>", "<abc@example.org>", false},
		{"<abc@example.org>", "<abd@example.org>", false},
		{"<abc@example.org>", "<abc@example.net>", false},
		{"<a@b@example.org>", "<a@b@EXAMPLE.org>", true},
		{"", "", false},
		{"<>", "<>", false},
		{"<abc>", "<abc>", true},
	} {
		if got := Same(tc.a, tc.b); got != tc.want {
			t.Errorf("Same(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := Same(tc.b, tc.a); got != tc.want {
			t.Errorf("Same(%q, %q) = %v, want %v (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}
