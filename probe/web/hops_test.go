package web

import (
	"strings"
	"testing"

	"github.com/listprobe/listprobe/probe"
)

// A hop clamped to zero (its Received date ran backwards) shows on the page
// as 0 s, with the difference the dates gave.
func TestPageShowsClampedHops(t *testing.T) {
	views := hopViews([]probe.Hop{{By: "a.example.org"}, {By: "b.example.org", Seconds: 0, ClampedFrom: -432000}, {By: "c.example.org", Seconds: 3}})
	if got := views[1].Seconds; !strings.Contains(got, "+0 s") || !strings.Contains(got, "-432000 s: clamped") {
		t.Errorf("clamped hop shown as %q", got)
	}
	if got := views[2].Seconds; strings.Contains(got, "clamped") {
		t.Errorf("a hop that was not clamped shown as %q", got)
	}
}
