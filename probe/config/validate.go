package config

import (
	"crypto/x509"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/listprobe/listprobe/checks/idn"
	"github.com/listprobe/listprobe/checks/token"
)

// validator applies defaults and checks a decoded config, collecting every
// error. Messages never quote a secret, nor a value that may hold one by
// mistake: a password written where a file name or a variable name goes,
// or a URL with credentials. The field and the line say where to look.
type validator struct {
	file   string
	root   *yaml.Node
	opts   *Options
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
	v.errs = append(v.errs, &ConfigError{File: v.file, Line: line, col: col, Field: configField(field), Msg: configMsg(format, args...)})
}

func (v *validator) warnf(path []any, format string, args ...any) {
	line, _ := v.position(path)
	v.warnings = append(v.warnings, Warning{File: v.file, Line: line, Field: configField(fieldName(path)), Msg: configMsg(format, args...)})
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
	global := c.validateGlobal(v)
	if len(c.Accounts) == 0 {
		v.errorf([]any{"accounts"}, "at least one account is required")
	}
	accounts := eachBlock(v, "accounts", "account", c.Accounts, func(name string, a *AccountConfig, path []any) {
		a.name = name
		a.validate(v, path)
	})
	c.Global.validateDNS(v)
	listServers := c.validateListServers(v)
	servers := eachBlock(v, "mailman", "mailman server", c.Mailman, func(_ string, m *MailmanConfig, path []any) {
		m.validate(v, path)
		m.Audit.validate(v, join(path, "audit"))
	})

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
		c.validateList(v, path, l, accounts, servers)
		c.validateListServer(v, path, l, listServers)
		c.validateTiming(v, path, l, global, &globalTimeoutReported)
	}
}

// validateGlobal fills in the global defaults, checks them, reads the
// signing key, and returns the global schedule.
func (c *Config) validateGlobal(v *validator) parsedSchedule {
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
	return global
}

// validateList checks the accounts and the Mailman server a list names,
// and its expectation.
func (c *Config) validateList(v *validator, path []any, l *ListConfig, accounts, servers []string) {
	c.checkAccount(v, join(path, "poster"), l.Poster, accounts, "is required: the account that posts as a member",
		func(a *AccountConfig) bool { return a.SMTP != nil }, "has no smtp server to post with")
	c.validateReaders(v, path, l, accounts)
	if l.Moderator != "" {
		c.checkAccount(v, join(path, "moderator"), l.Moderator, accounts, "",
			func(a *AccountConfig) bool { return a.IMAP != nil }, "has no imap server to read notices from")
	}
	if _, ok := c.Mailman[l.Mailman]; l.Mailman != "" && !ok && !v.reported("mailman") {
		v.errorf(join(path, "mailman"), "unknown mailman server %q%s", l.Mailman, suggest(l.Mailman, servers))
	}
	switch l.Expect {
	case "":
		l.Expect = ExpectDelivered
	case ExpectDelivered, ExpectHeld:
	default:
		v.errorf(join(path, "expect"), "%q is not delivered or held", l.Expect)
	}
}

// MaxReaders bounds a list's readers: each is a value of the reader label
// of the per-reader metrics, and an IMAP session or two.
const MaxReaders = 16

// validateReaders checks reader or readers (one of the two) and sets
// Readers to every reader and Reader to the first.
func (c *Config) validateReaders(v *validator, path []any, l *ListConfig, accounts []string) {
	hasIMAP := func(a *AccountConfig) bool { return a.IMAP != nil }
	const lacks = "has no imap server to read copies from"
	switch {
	case l.Reader != "" && len(l.Readers) > 0:
		v.errorf(join(path, "readers"), "set reader or readers, not both")
		return
	case len(l.Readers) == 0:
		c.checkAccount(v, join(path, "reader"), l.Reader, accounts, "is required (or readers): the subscribed account that receives the list's copies", hasIMAP, lacks)
		if l.Reader != "" {
			l.Readers = []string{l.Reader}
		}
		return
	case len(l.Readers) > MaxReaders:
		v.errorf(join(path, "readers"), "%d readers; at most %d", len(l.Readers), MaxReaders)
	}
	seen := map[string]int{}
	for i, r := range l.Readers {
		p := join(path, "readers", i)
		if j, dup := seen[r]; dup {
			v.errorf(p, "account %q is already readers[%d]", r, j)
			continue
		}
		seen[r] = i
		c.checkAccount(v, p, r, accounts, "is empty: name an account", hasIMAP, lacks)
	}
	l.Reader = l.Readers[0]
}

// validateTiming sets a list's schedule and checks that its timeout ends
// before the next probe starts; a global timeout too long for the global
// schedule is reported once (reported says whether it was).
func (c *Config) validateTiming(v *validator, path []any, l *ListConfig, global parsedSchedule, reported *bool) {
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
		return
	}
	timeout := l.EffectiveTimeout(c.Global)
	if timeout < sched.interval {
		return
	}
	spec := l.ScheduleSpec(c.Global)
	switch {
	case l.Timeout != 0:
		v.errorf(join(path, "timeout"), "%s is not shorter than the interval of the schedule %q (%s): a probe must end before the next one starts", fmtDuration(timeout), spec, fmtDuration(sched.interval))
	case l.Schedule != "":
		v.errorf(join(path, "schedule"), "%q runs every %s, which is not longer than the timeout %s (global.timeout): set a shorter timeout for this list", spec, fmtDuration(sched.interval), fmtDuration(timeout))
	case !*reported:
		*reported = true
		v.errorf([]any{"global", "timeout"}, "%s is not shorter than the interval of the schedule %q (%s): a probe must end before the next one starts", fmtDuration(timeout), spec, fmtDuration(sched.interval))
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

// scheduleSuggestion proposes the descriptor a schedule that is not cron
// was probably meant to be: "every 5m" or "5m" for "@every 5m", "hourly"
// for "@hourly".
func scheduleSuggestion(spec string) string {
	s := strings.TrimSpace(spec)
	candidates := []string{"@" + s}
	if _, err := time.ParseDuration(s); err == nil {
		candidates = append(candidates, "@every "+s)
	}
	for _, c := range candidates {
		if _, err := cronParser.Parse(c); err == nil {
			return fmt.Sprintf("; did you mean %q?", c)
		}
	}
	return ""
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
			ps.err = fmt.Errorf("%q is not a cron schedule: %w%s", spec, err, scheduleSuggestion(spec))
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

func checkAddress(a string) error {
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Address != a || addr.Name != "" {
		return fmt.Errorf("%q is not a bare mail address like list@example.org", a)
	}
	// An international domain must have an ASCII form: without SMTPUTF8 it
	// is sent in that form, and notices quote it so.
	if _, err := idn.ASCIIAddress(a); err != nil {
		return fmt.Errorf("%q: %v", a, err)
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

// eachBlock calls check on each named block of a section (accounts,
// mailman, list_servers) in name order, reports a name without settings
// as "<what> is empty", and returns the names.
func eachBlock[T any](v *validator, section, what string, blocks map[string]*T, check func(name string, b *T, path []any)) []string {
	names := sortedKeys(blocks)
	for _, name := range names {
		path := []any{section, name}
		if blocks[name] == nil {
			v.errorf(path, "%s is empty", what)
			continue
		}
		check(name, blocks[name], path)
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
