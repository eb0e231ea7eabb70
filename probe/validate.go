package probe

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/token"
)

// validator applies defaults and checks a decoded config, collecting every
// error. Messages never quote a secret, nor a value that may hold one by
// mistake: a password written where a file name or a variable name goes,
// or a URL with credentials. The field and the line say where to look.
type validator struct {
	file   string
	root   *yaml.Node
	opts   *LoadOptions
	errs   ConfigErrors
	failed map[string]bool // fields the decoder already reported

	warnings    []Warning
	secretFiles []secretFile
	schedules   map[string]parsedSchedule // by spec: 10,000 lists share a few
	caPools     map[string]*x509.CertPool // by CA file
}

type parsedSchedule struct {
	schedule cron.Schedule
	interval time.Duration
	err      error
}

// secretFile is a secret file the config names, for Warnings.
type secretFile struct {
	field string
	line  int
	path  string
}

// Warning is a setting that works but weakens security: listprobe runs
// with it, and the service logs it at start.
type Warning struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (w Warning) String() string {
	return (&ConfigError{File: w.File, Line: w.Line, Field: w.Field, Msg: w.Msg}).Error()
}

// Warnings returns what the config does that weakens security, in line
// order: certificate verification turned off, passwords allowed over
// plaintext to another host, and secret files that group or others can
// read (checked now, not at load, as a file's mode can change). The caller
// logs them; nothing here does.
func (c *Config) Warnings() []Warning {
	out := append([]Warning(nil), c.warnings...)
	for _, s := range c.secretFiles {
		fi, err := os.Stat(s.path)
		if err != nil {
			continue // read at load; a file gone since then fails where it is used
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			out = append(out, Warning{File: c.File, Line: s.line, Field: s.field,
				Msg: fmt.Sprintf("the secret file can be read by group or others (mode %04o); chmod 600 it", perm)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// path resolves a file named in the config relative to the config's
// directory, as Prometheus does.
func (v *validator) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(v.file), p)
}

// errorf records an error about the field at path (keys and indexes, as in
// "lists", 0, "poster"); the line comes from the YAML node at that path, or
// its closest existing parent. A field the decoder already reported, or one
// inside it, gets no second error.
func (v *validator) errorf(path []any, format string, args ...any) {
	field := fieldName(path)
	if v.reported(field) {
		return
	}
	line, col := v.position(path)
	v.errs = append(v.errs, &ConfigError{File: v.file, Line: line, col: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) warnf(path []any, format string, args ...any) {
	line, _ := v.position(path)
	v.warnings = append(v.warnings, Warning{File: v.file, Line: line, Field: fieldName(path), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) reported(field string) bool {
	for len(v.failed) > 0 && field != "" {
		if v.failed[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return false
		}
		field = field[:i]
	}
	return false
}

func fieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// position returns the line and column of the key at path, or of its
// closest existing parent.
func (v *validator) position(path []any) (int, int) {
	n := v.root
	if n == nil {
		return 0, 0
	}
	line, col := n.Line, n.Column
	for _, p := range path {
		n = resolveAlias(n)
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			budget := 1000 // merges of merges: a lookup gives up rather than walk them all
			if k, val := mappingValue(n, p, &budget); k != nil {
				line, col = k.Line, k.Column
				next = val
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line, col = next.Line, next.Column
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line, col
}

// mappingValue finds key in the mapping n, written or merged, looking at
// no more than *budget mappings.
func mappingValue(n *yaml.Node, key string, budget *int) (k, val *yaml.Node) {
	if *budget--; n.Kind != yaml.MappingNode || *budget < 0 {
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch c := n.Content[i]; {
		case c.Value == "<<" && c.ShortTag() == "!!merge":
			merges = append(merges, n.Content[i+1])
		case c.Value == key:
			return c, n.Content[i+1]
		}
	}
	for _, m := range merges {
		m = resolveAlias(m)
		items := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			items = m.Content
		}
		for _, item := range items {
			if k, val := mappingValue(resolveAlias(item), key, budget); k != nil {
				return k, val
			}
		}
	}
	return nil, nil
}

func join(path []any, more ...any) []any {
	return append(append([]any{}, path...), more...)
}

func (c *Config) validate(v *validator) {
	g := &c.Global
	if g.Schedule == "" {
		g.Schedule = DefaultSchedule
	}
	if g.Timeout == 0 {
		g.Timeout = Duration(DefaultTimeout)
	}
	if g.PollInterval == 0 {
		g.PollInterval = Duration(DefaultPollInterval)
	}
	if g.Timeout < 0 {
		v.errorf([]any{"global", "timeout"}, "must be positive")
	}
	if g.PollInterval < 0 {
		v.errorf([]any{"global", "poll_interval"}, "must be positive")
	}
	global := v.schedule([]any{"global", "schedule"}, g.Schedule)
	if key, field, ok := v.readSecret([]any{"global"}, "signing_key", g.SigningKeyFile, g.SigningKeyEnv, true); ok {
		s, err := token.NewSigner([]byte(key))
		if err != nil {
			v.errorf([]any{"global", field}, "%v", err)
		}
		c.signer = s
	}

	if len(c.Accounts) == 0 {
		v.errorf([]any{"accounts"}, "at least one account is required")
	}
	accounts := sortedKeys(c.Accounts)
	for _, name := range accounts {
		a := c.Accounts[name]
		path := []any{"accounts", name}
		if a == nil {
			v.errorf(path, "account is empty")
			continue
		}
		a.name = name
		a.validate(v, path)
	}
	servers := sortedKeys(c.Mailman)
	for _, name := range servers {
		m := c.Mailman[name]
		path := []any{"mailman", name}
		if m == nil {
			v.errorf(path, "mailman server is empty")
			continue
		}
		m.validate(v, path)
	}

	if len(c.Lists) == 0 {
		v.errorf([]any{"lists"}, "at least one list is required")
	}
	seen := map[string]int{}
	globalTimeoutReported := false
	for i, l := range c.Lists {
		path := []any{"lists", i}
		if l == nil {
			v.errorf(path, "list is empty")
			continue
		}
		l.validateAddress(v, path, seen, i)
		c.checkAccount(v, join(path, "poster"), l.Poster, accounts, "is required: the account that posts as a member",
			func(a *AccountConfig) bool { return a.SMTP != nil }, "has no smtp server to post with")
		c.checkAccount(v, join(path, "reader"), l.Reader, accounts, "is required: the subscribed account that receives the list's copies",
			func(a *AccountConfig) bool { return a.IMAP != nil }, "has no imap server to read copies from")
		if l.Moderator != "" {
			c.checkAccount(v, join(path, "moderator"), l.Moderator, accounts, "",
				func(a *AccountConfig) bool { return a.IMAP != nil }, "has no imap server to read notices from")
		}
		if _, ok := c.Mailman[l.Mailman]; l.Mailman != "" && !ok && !v.reported("mailman") {
			v.errorf(join(path, "mailman"), "unknown mailman server %q%s", l.Mailman, suggest(l.Mailman, servers))
		}
		switch l.Expect {
		case "":
			l.Expect = Delivered
		case Delivered, Held:
		default:
			v.errorf(join(path, "expect"), "%q is not delivered or held", l.Expect)
		}
		if l.Timeout < 0 {
			v.errorf(join(path, "timeout"), "must be positive")
		}
		l.Archive.validate(v, join(path, "archive"), c.Accounts)
		sched := global
		if l.Schedule != "" {
			sched = v.schedule(join(path, "schedule"), l.Schedule)
		}
		l.schedule, l.interval = sched.schedule, sched.interval
		if sched.err != nil {
			continue
		}
		timeout := l.EffectiveTimeout(c.Global)
		if timeout < sched.interval {
			continue
		}
		spec := l.ScheduleSpec(c.Global)
		switch {
		case l.Timeout != 0:
			v.errorf(join(path, "timeout"), "%s is not shorter than the interval of the schedule %q (%s): a probe must end before the next one starts", fmtDuration(timeout), spec, fmtDuration(sched.interval))
		case l.Schedule != "":
			v.errorf(join(path, "schedule"), "%q runs every %s, which is not longer than the timeout %s (global.timeout): set a shorter timeout for this list", spec, fmtDuration(sched.interval), fmtDuration(timeout))
		case !globalTimeoutReported:
			globalTimeoutReported = true
			v.errorf([]any{"global", "timeout"}, "%s is not shorter than the interval of the schedule %q (%s): a probe must end before the next one starts", fmtDuration(timeout), spec, fmtDuration(sched.interval))
		}
	}
}

func (l *ListConfig) validateAddress(v *validator, path []any, seen map[string]int, i int) {
	p := join(path, "address")
	switch {
	case l.Address == "":
		v.errorf(p, "is required")
		return
	case checkAddress(l.Address) != nil:
		v.errorf(p, "%v", checkAddress(l.Address))
		return
	}
	l.Address = strings.ToLower(l.Address)
	if n := len(l.Address); n > MaxListAddressLen {
		v.errorf(p, "is %d bytes long; a probe token carries at most %d, so every probe of this list would be lost", n, MaxListAddressLen)
	}
	if j, dup := seen[l.Address]; dup {
		v.errorf(p, "%s is already configured as lists[%d]", l.Address, j)
	}
	seen[l.Address] = i
}

// checkAccount checks a list's reference to an account, which must exist
// and have what the role needs.
func (c *Config) checkAccount(v *validator, path []any, name string, known []string, required string, has func(*AccountConfig) bool, lacks string) {
	switch a, ok := c.Accounts[name]; {
	case name == "":
		if required != "" {
			v.errorf(path, "%s", required)
		}
	case !ok:
		if v.reported("accounts") {
			return // the accounts could not be read: every name is unknown
		}
		v.errorf(path, "unknown account %q%s", name, suggest(name, known))
	case a != nil && !has(a):
		v.errorf(path, "account %q %s", name, lacks)
	}
}

// suggest says which known name was probably meant, and lists the known
// names (the first ten).
func suggest(name string, known []string) string {
	var b strings.Builder
	if s, ok := closest(name, known); ok {
		fmt.Fprintf(&b, "; did you mean %q?", s)
	}
	switch {
	case len(known) == 0:
		b.WriteString(" (none are configured)")
	case len(known) <= 10:
		fmt.Fprintf(&b, " (known: %s)", strings.Join(known, ", "))
	default:
		fmt.Fprintf(&b, " (known: %s and %d more)", strings.Join(known[:10], ", "), len(known)-10)
	}
	return b.String()
}

// schedule parses spec once per load and checks its interval; errors go to
// the field at path, once per field.
func (v *validator) schedule(path []any, spec string) parsedSchedule {
	if v.schedules == nil {
		v.schedules = map[string]parsedSchedule{}
	}
	ps, ok := v.schedules[spec]
	if !ok {
		s, err := cronParser.Parse(spec)
		if err != nil {
			ps.err = fmt.Errorf("%q is not a cron schedule: %w", spec, err)
		} else {
			ps.schedule, ps.interval = s, minInterval(s)
			if ps.interval == never {
				ps.err = fmt.Errorf("%q never runs", spec)
			} else if floor := v.opts.minInterval(); ps.interval < floor {
				ps.err = fmt.Errorf("%q runs every %s; the shortest interval allowed is %s, because every probe posts a message to each subscriber of the list", spec, fmtDuration(ps.interval), fmtDuration(floor))
			}
		}
		v.schedules[spec] = ps
	}
	if ps.err != nil {
		v.errorf(path, "%v", ps.err)
	}
	return ps
}

func (a *AccountConfig) validate(v *validator, path []any) {
	if a.Address == "" {
		v.errorf(join(path, "address"), "is required")
	} else if err := checkAddress(a.Address); err != nil {
		v.errorf(join(path, "address"), "%v", err)
	}
	if a.SMTP == nil && a.IMAP == nil {
		v.errorf(path, "has neither smtp nor imap: it can neither post nor read")
	}
	if a.SMTP != nil {
		p := join(path, "smtp")
		s := a.SMTP
		s.ServerConfig.validate(v, p, mailtls.StartTLS)
		switch s.Auth {
		case "":
			s.Auth = "none"
			if s.Username != "" {
				s.Auth = "plain"
			}
		case "plain", "login", "oauthbearer", "anonymous", "external", "none":
		default:
			v.errorf(join(p, "auth"), "%q is not one of plain, login, oauthbearer, anonymous, external, none", s.Auth)
		}
		switch s.Auth {
		case "plain", "login", "oauthbearer":
			if s.Username == "" {
				v.errorf(join(p, "username"), "is required for auth %s", s.Auth)
			}
			if s.PasswordFile == "" && s.PasswordEnv == "" {
				v.errorf(join(p, "password_file"), "password_file or password_env is required for auth %s", s.Auth)
			}
			s.checkPlaintext(v, p, a.AllowPlaintext, path, "SMTP AUTH "+s.Auth)
		}
	}
	if a.IMAP != nil {
		p := join(path, "imap")
		a.IMAP.ServerConfig.validate(v, p, mailtls.Implicit)
		if a.IMAP.Username == "" {
			v.errorf(join(p, "username"), "is required")
		}
		if a.IMAP.PasswordFile == "" && a.IMAP.PasswordEnv == "" {
			v.errorf(join(p, "password_file"), "password_file or password_env is required")
		}
		if a.IMAP.Mailbox == "" {
			a.IMAP.Mailbox = "INBOX"
		}
		a.IMAP.checkPlaintext(v, p, a.AllowPlaintext, path, "IMAP LOGIN")
	}
	if a.DKIM != nil {
		p := join(path, "dkim")
		if a.DKIM.Domain == "" {
			v.errorf(join(p, "domain"), "is required")
		}
		if a.DKIM.Selector == "" {
			v.errorf(join(p, "selector"), "is required")
		}
		if a.DKIM.PrivateKeyFile == "" {
			v.errorf(join(p, "private_key_file"), "is required")
		} else if key, err := v.readPrivateKey(join(p, "private_key_file"), a.DKIM.PrivateKeyFile); err != nil {
			v.errorf(join(p, "private_key_file"), "%v", err)
		} else {
			a.dkimKey = key
		}
	}
}

func (s *ServerConfig) validate(v *validator, path []any, defaultTLS mailtls.Mode) {
	host := ""
	if s.Address == "" {
		v.errorf(join(path, "address"), "is required (host:port)")
	} else if h, port, err := net.SplitHostPort(s.Address); err != nil || h == "" || port == "" {
		if strings.ContainsAny(s.Address, "@/") {
			// A URL or user:password@host: do not echo it.
			v.errorf(join(path, "address"), "must be host:port, without a scheme, user name or password")
		} else {
			v.errorf(join(path, "address"), "%q is not host:port", s.Address)
		}
	} else {
		host = h
	}
	switch s.TLS {
	case "":
		s.TLS = defaultTLS
	case mailtls.Implicit, mailtls.StartTLS, mailtls.None:
	default:
		v.errorf(join(path, "tls"), "%q is not tls, starttls or none", s.TLS)
	}
	if s.PasswordFile != "" || s.PasswordEnv != "" {
		if pw, _, ok := v.readSecret(path, "password", s.PasswordFile, s.PasswordEnv, false); ok {
			s.password = newSecret(pw)
		}
	}
	if s.TLS != mailtls.None {
		s.tlsConfig = s.TLSSettings.clientConfig(v, path, host)
	}
}

// checkPlaintext refuses a password sent without TLS to a host other than
// loopback, unless the account allows it; allowed, it is a warning.
func (s *ServerConfig) checkPlaintext(v *validator, path []any, allow bool, account []any, what string) {
	if s.TLS != mailtls.None {
		return
	}
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil || isLoopback(host) {
		return
	}
	if allow {
		v.warnf(join(path, "tls"), "%s sends the password to %s unencrypted (allow_plaintext: true)", what, host)
		return
	}
	v.errorf(join(path, "tls"), "none would send the password (%s) to %s unencrypted; use tls or starttls, or set %s.allow_plaintext: true if the network is trusted", what, host, fieldName(account))
}

// isLoopback reports whether host is a loopback name or address as
// written: "localhost", 127.0.0.0/8 or ::1. No DNS: a name that merely
// resolves to loopback today is not loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (m *MailmanConfig) validate(v *validator, path []any) {
	urlPath := join(path, "url")
	var u *url.URL
	switch {
	case m.URL == "":
		v.errorf(urlPath, "is required, e.g. https://lists.example.org/3.1")
	case strings.Contains(m.URL, "@"):
		// Checked before parsing: "htps://user:pw@host" or
		// "user:pw@host" parse oddly or not at all, and must never be
		// echoed.
		v.errorf(urlPath, "must not contain a user name or password; use username and password_file")
	default:
		parsed, err := url.Parse(m.URL)
		switch {
		case err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" || parsed.Opaque != "":
			// url.Parse's error quotes the URL: not shown.
			v.errorf(urlPath, "is not an http or https URL like https://lists.example.org/3.1")
		case parsed.RawQuery != "" || parsed.ForceQuery || parsed.Fragment != "":
			v.errorf(urlPath, "must not contain a query or fragment")
		default:
			u = parsed
		}
	}
	if m.Username == "" {
		v.errorf(join(path, "username"), "is required")
	}
	if m.PasswordFile == "" && m.PasswordEnv == "" {
		v.errorf(join(path, "password_file"), "password_file or password_env is required")
	} else if pw, _, ok := v.readSecret(path, "password", m.PasswordFile, m.PasswordEnv, false); ok {
		m.password = newSecret(pw)
	}
	if m.Refresh == 0 {
		m.Refresh = Duration(DefaultMailmanRefresh)
	}
	if m.Refresh < 0 {
		v.errorf(join(path, "refresh"), "must be positive")
	}
	m.MailmanPipeline.validate(v, path)
	if u == nil {
		return
	}
	switch {
	case u.Scheme == "https":
		m.tlsConfig = m.TLSSettings.clientConfig(v, path, u.Hostname())
	case isLoopback(u.Hostname()):
	case m.AllowPlaintext:
		v.warnf(urlPath, "http:// sends the REST password to %s unencrypted (allow_plaintext: true)", u.Hostname())
	default:
		v.errorf(urlPath, "http:// would send the REST password to %s unencrypted; use https, or set %s.allow_plaintext: true if the network is trusted", u.Hostname(), fieldName(path))
	}
}

// clientConfig is the one place a client TLS configuration is made, for
// SMTP, IMAP and Mailman alike: verified against the system roots plus
// ca_file, for the server name or the host.
func (t *TLSSettings) clientConfig(v *validator, path []any, host string) *tls.Config {
	name := t.ServerName
	if name == "" {
		name = host
	}
	tc := &tls.Config{ServerName: name, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.InsecureSkipVerify {
		v.warnf(join(path, "insecure_skip_verify"), "the server's certificate is not verified: anyone on the path can read the password")
	}
	if t.CAFile == "" {
		return tc
	}
	file := v.path(t.CAFile)
	if pool, ok := v.caPools[file]; ok {
		tc.RootCAs = pool
		return tc
	}
	pemData, err := readSmallFile(file, 4<<20)
	if err != nil {
		v.errorf(join(path, "ca_file"), "cannot read the CA file: %v", err)
		return tc
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		v.errorf(join(path, "ca_file"), "the CA file holds no PEM certificate")
		return tc
	}
	if v.caPools == nil {
		v.caPools = map[string]*x509.CertPool{}
	}
	v.caPools[file] = pool
	tc.RootCAs = pool
	return tc
}

// readSecret reads name_file or name_env. It returns the secret, the field it
// came from, and whether it was read. Its errors name neither the file nor
// the variable: a password written there by mistake would be echoed.
func (v *validator) readSecret(path []any, name, file, env string, required bool) (string, string, bool) {
	fileField, envField := name+"_file", name+"_env"
	switch {
	case file != "" && env != "":
		v.errorf(join(path, envField), "set %s or %s, not both", fileField, envField)
		return "", "", false
	case file != "":
		p := join(path, fileField)
		b, err := readSmallFile(v.path(file), 64<<10)
		if err != nil {
			v.errorf(p, "cannot read the secret file: %v%s", err, v.relativeHint(file))
			return "", "", false
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			v.errorf(p, "the secret file is empty")
			return "", "", false
		}
		v.addSecretFile(p, file)
		return s, fileField, true
	case env != "":
		s, ok := os.LookupEnv(env)
		if !ok || s == "" {
			v.errorf(join(path, envField), "the environment variable it names is not set or is empty")
			return "", "", false
		}
		return s, envField, true
	case required:
		v.errorf(join(path, fileField), "%s or %s is required", fileField, envField)
	}
	return "", "", false
}

func (v *validator) addSecretFile(path []any, file string) {
	line, _ := v.position(path)
	v.secretFiles = append(v.secretFiles, secretFile{field: fieldName(path), line: line, path: v.path(file)})
}

// relativeHint says where a relative path was looked for.
func (v *validator) relativeHint(file string) string {
	if filepath.IsAbs(file) {
		return ""
	}
	return " (a relative path is taken from the config file's directory, " + filepath.Dir(v.file) + ")"
}

// readSmallFile reads a regular file of at most limit bytes: a secret or a
// key named by mistake as /dev/zero or a FIFO must not hang the load. Its
// errors leave out the path.
func readSmallFile(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, pathless(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, pathless(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d KiB", limit>>10)
	}
	return data, nil
}

func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (v *validator) readPrivateKey(path []any, file string) (crypto.Signer, error) {
	data, err := readSmallFile(v.path(file), 64<<10)
	if err != nil {
		return nil, fmt.Errorf("cannot read the DKIM key: %v%s", err, v.relativeHint(file))
	}
	v.addSecretFile(path, file)
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("the file holds no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not an RSA or Ed25519 private key in PKCS#1 or PKCS#8 PEM")
}

func checkAddress(a string) error {
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Address != a || addr.Name != "" {
		return fmt.Errorf("%q is not a bare mail address like list@example.org", a)
	}
	return nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// fmtDuration writes a duration without trailing zero units: 1m, not 1m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
