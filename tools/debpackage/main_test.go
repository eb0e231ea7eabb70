package main

import (
	"os/exec"
	"testing"
)

func TestDebianVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v1.2.0", "1.2.0"},
		{"1.2.0", "1.2.0"},
		{"v1.2.0-rc.1", "1.2.0~rc.1"},
		{"v0.0.0-20261202005919-7c93c546bd79", "0.0.0~20261202005919.7c93c546bd79"},
		{"v1.2.1-0.20261202005919-7c93c546bd79", "1.2.1~0.20261202005919.7c93c546bd79"},
		{"v0.0.0-20261202005919-7c93c546bd79+dirty", "0.0.0~20261202005919.7c93c546bd79+dirty"},
	} {
		got, err := DebianVersion(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("DebianVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "(devel)", "dev", "v1.2.0 beta", "v1.2.0_1", "vx"} {
		if got, err := DebianVersion(bad); err == nil {
			t.Errorf("DebianVersion(%q) = %q, want an error", bad, got)
		}
	}
}

// Debian must order the versions as Go does: a pseudo-version before the
// release it leads to, after the release it follows.
func TestDebianVersionsSortLikeGoVersions(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("no dpkg")
	}
	ordered := []string{"v0.0.0-20261202005919-7c93c546bd79", "v1.2.0-rc.1", "v1.2.0", "v1.2.1-0.20261202005919-7c93c546bd79", "v1.2.1"}
	for i := 1; i < len(ordered); i++ {
		a, _ := DebianVersion(ordered[i-1])
		b, _ := DebianVersion(ordered[i])
		if err := exec.Command(dpkg, "--compare-versions", a, "lt", b).Run(); err != nil {
			t.Errorf("dpkg does not sort %s (%s) before %s (%s)", a, ordered[i-1], b, ordered[i])
		}
	}
}
