package servertext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"550 5.1.1 user\r\nunknown":                      "550 5.1.1 user unknown",
		"x\nOK other: delivered\x1b[2J\x00\u009b":        "x OK other: delivered[2J",
		"Empf\xe4nger unbekannt":                         "Empfänger unbekannt",
		"  spaced \t out  ":                              "spaced out",
		"held \u202edereviled\u202c \u2067x\u2069\u200f": "held dereviled x",
	} {
		if got := Clean(in, 100); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Clean(strings.Repeat("ä", 100), 11); got != "äääää..." {
		t.Errorf("cut = %q", got)
	}
}
