package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// requireTool returns a tool's path; a missing tool skips the test, except
// under CI=true, where it fails it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing", name)
		}
		t.Skipf("no %s", name)
	}
	return p
}

// The package, built as documented (here with --version, which works in a
// worktree too) and read back with dpkg-deb without installing it, has the
// name, version, files, conffile and scripts the README promises.
func TestPackageAsBuiltHasWhatTheReadmeSays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds listprobe; not in -short")
	}
	dpkgDeb := requireTool(t, "dpkg-deb")
	// build changes into the repository root; t.Chdir restores the working
	// directory afterwards.
	t.Chdir(".")
	out := t.TempDir()
	deb, err := build("0.0.0-test.1", out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(deb), "listprobe_0.0.0~test.1_amd64.deb"; got != want {
		t.Errorf("package file %s, want %s", got, want)
	}
	field := func(name string) string {
		b, err := exec.Command(dpkgDeb, "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	for name, want := range map[string]string{"Package": "listprobe", "Version": "0.0.0~test.1", "Architecture": "amd64"} {
		if got := field(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}

	checkDebModes(t, dpkgDeb, deb)
	checkDebControl(t, dpkgDeb, deb)

	// The binary inside reports the package's version.
	data := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "-x", deb, data).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	v, err := exec.Command(filepath.Join(data, "usr/bin/listprobe"), "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "listprobe, version 0.0.0-test.1 ") {
		t.Errorf("the packaged listprobe says %q (%v)", v, err)
	}
	unit, err := os.ReadFile(filepath.Join(data, "usr/lib/systemd/system/listprobe.service"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(unit), "\n")
	for _, want := range []string{"User=listprobe", "ExecStart=/usr/bin/listprobe serve --config.file=/etc/listprobe/listprobe.yml $LISTPROBE_OPTS", "LoadCredential=secrets:/etc/listprobe/secrets"} {
		if !slices.Contains(lines, want) {
			t.Errorf("the packaged unit lacks %q", want)
		}
	}
	sysusers, err := os.ReadFile(filepath.Join(data, "usr/lib/sysusers.d/listprobe.conf"))
	if err != nil || !strings.Contains(string(sysusers), "\nu listprobe ") {
		t.Errorf("sysusers.d file %q (%v) creates no user listprobe", sysusers, err)
	}
}

// checkDebModes checks the modes and owners of the package's files.
func checkDebModes(t *testing.T, dpkgDeb, deb string) {
	t.Helper()
	listing, err := exec.Command(dpkgDeb, "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(listing)), "\n") {
		f := strings.Fields(line)
		modes[strings.TrimSuffix(strings.TrimPrefix(f[len(f)-1], "."), "/")] = f[0] + " " + f[1]
	}
	for path, want := range map[string]string{
		"/usr/bin/listprobe":                        "-rwxr-xr-x root/root",
		"/usr/lib/systemd/system/listprobe.service": "-rw-r--r-- root/root",
		"/usr/lib/sysusers.d/listprobe.conf":        "-rw-r--r-- root/root",
		"/etc/listprobe/listprobe.yml":              "-rw-r--r-- root/root",
		"/etc/default/listprobe":                    "-rw-r--r-- root/root",
	} {
		if modes[path] != want {
			t.Errorf("%s: %q, want %q", path, modes[path], want)
		}
	}
}

// checkDebControl checks the package's conffiles and that its scripts
// neither enable nor start the service.
func checkDebControl(t *testing.T, dpkgDeb, deb string) {
	t.Helper()
	control := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "-e", deb, control).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	conffiles, err := os.ReadFile(filepath.Join(control, "conffiles"))
	if err != nil || strings.Join(strings.Fields(string(conffiles)), " ") != "/etc/default/listprobe /etc/listprobe/listprobe.yml" {
		t.Errorf("conffiles %q (%v), want exactly /etc/default/listprobe and /etc/listprobe/listprobe.yml", conffiles, err)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		raw, err := os.ReadFile(filepath.Join(control, script))
		if err != nil {
			t.Fatalf("no %s: %v", script, err)
		}
		// Installing must not enable or start the service.
		for _, word := range []string{"systemctl start", "systemctl enable", "systemctl restart", "deb-systemd-invoke start", "deb-systemd-helper enable"} {
			if strings.Contains(string(raw), word) {
				t.Errorf("%s runs %q", script, word)
			}
		}
	}
}
