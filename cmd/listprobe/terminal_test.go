package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestControlEscaperWritesControlsAsEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"OK list: delivered\n":         "OK list: delivered\n",
		"tab\there\n":                  "tab\there\n",
		"a\x1b[2Jb":                    `a\u001b[2Jb`,
		"a\rOK":                        `a\u000dOK`,
		"nul\x00bel\x07":               `nul\u0000bel\u0007`,
		"c1 \u009b31m":                 `c1 \u009b31m`,
		"bidi \u202eevil":              `bidi \u202eevil`,
		"latin1 \xe4":                  `latin1 \xe4`,
		"Empfänger unbekannt — 550 日本": "Empfänger unbekannt — 550 日本",
	} {
		var b bytes.Buffer
		n, err := (&controlEscaper{w: &b}).Write([]byte(in))
		if err != nil || n != len(in) {
			t.Errorf("Write(%q) = %d, %v; want %d, nil", in, n, err, len(in))
		}
		if b.String() != want {
			t.Errorf("Write(%q) wrote %q, want %q", in, b.String(), want)
		}
	}
}

// JSON stays valid JSON through the escaper, with the C1 control it would
// otherwise pass raw written as an escape.
func TestControlEscaperKeepsJSONValid(t *testing.T) {
	raw, _ := json.Marshal(map[string]string{"reason": "csi \u009b2J and \u0085 next line"})
	var b bytes.Buffer
	(&controlEscaper{w: &b}).Write(raw)
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("escaped JSON %q does not decode: %v", b.String(), err)
	}
	if back["reason"] != "csi \u009b2J and \u0085 next line" {
		t.Errorf("decoded %q", back["reason"])
	}
	if bytes.Contains(b.Bytes(), []byte("\u009b")) {
		t.Error("a raw C1 control is left")
	}
}
