package checks

import "testing"

// A List-Id is ASCII: a list on an international domain has its domain in
// A-label form there.
func TestListIDOfInternationalDomain(t *testing.T) {
	if got := listIDOf("liste@exämple.test"); got != "liste.xn--exmple-cua.test" {
		t.Errorf("listIDOf = %q, want liste.xn--exmple-cua.test", got)
	}
}
