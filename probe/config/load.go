package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Options change how a config is loaded. A nil *Options means the
// defaults, which are what serve, once and check-config use.
type Options struct {
	// MinInterval is the shortest schedule interval accepted. Zero means
	// DefaultMinInterval (one minute). Only the built-in demo and tests
	// lower it, to see probes within seconds; it is deliberately not a key
	// of the config file, so that no config can make listprobe post to a
	// list's subscribers every few seconds.
	MinInterval time.Duration
	// SkipSecrets leaves the secrets (*_file and *_env) unread and
	// unchecked: check-config --config.check-secrets=false, for a config
	// whose secrets exist only where the service runs (systemd credentials).
	SkipSecrets bool
}

func (o *Options) skipSecrets() bool { return o != nil && o.SkipSecrets }

func (o *Options) minInterval() time.Duration {
	if o == nil || o.MinInterval <= 0 {
		return DefaultMinInterval
	}
	return o.MinInterval
}

// LoadFile reads, decodes and validates a config file, and reads the secrets
// it names; opts nil means the defaults. Every error names the file, the
// line and the field; all errors are reported at once, as ConfigErrors.
func LoadFile(path string, opts *Options) (*Config, error) {
	// Bounded, and a regular file only, like the secret files: a config
	// named by mistake as /dev/zero or a FIFO must fail at once.
	data, err := readSmallFile(path, maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return Load(path, data, opts)
}

// Load decodes and validates config data read from file (used in messages
// and to resolve relative paths), as LoadFile does.
func Load(file string, data []byte, opts *Options) (*Config, error) {
	doc, errs := parseYAML(file, data)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	cfg := &Config{File: file}
	d := &decoder{file: file, failed: map[string]bool{}, budget: 10*countNodes(doc) + 100000}
	d.decode(doc, reflect.ValueOf(cfg).Elem(), "")
	v := &validator{file: file, root: doc, opts: opts, errs: d.errs, failed: d.failed}
	cfg.validate(v)
	if len(v.errs) > 0 {
		return nil, v.errs.sorted()
	}
	cfg.warnings = v.warnings
	cfg.secretFiles = v.secretFiles
	cfg.index()
	return cfg, nil
}

// ConfigError is a config problem at a place in the file.
type ConfigError struct {
	File  string
	Line  int    // 0 when unknown
	Field string // e.g. "lists[0].poster"
	Msg   string

	col int // orders errors on one line
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors are every problem found in a config, in line order. Its
// text is one error per line.
type ConfigErrors []*ConfigError

func (errs ConfigErrors) Error() string {
	shown := errs
	if len(shown) > maxConfigErrorsShown {
		shown = shown[:maxConfigErrorsShown]
	}
	lines := make([]string, len(shown), len(shown)+1)
	for i, e := range shown {
		lines[i] = e.Error()
	}
	if len(errs) > len(shown) {
		lines = append(lines, fmt.Sprintf("%s: %d more errors not shown", errs[0].File, len(errs)-len(shown)))
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives errors.As and errors.Is each *ConfigError.
func (errs ConfigErrors) Unwrap() []error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return out
}

func (errs ConfigErrors) sorted() ConfigErrors {
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].col < errs[j].col
	})
	return errs
}

var yamlErrLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parseYAML reads the one YAML document of the file.
func parseYAML(file string, data []byte) (*yaml.Node, ConfigErrors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ConfigErrors{{File: file, Msg: "config is empty"}}
		}
		return nil, ConfigErrors{yamlSyntaxError(file, err)}
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, ConfigErrors{yamlSyntaxError(file, err)}
	default:
		return nil, ConfigErrors{{File: file, Line: second.Line, Msg: "a second YAML document (after ---): the config is one document"}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if isNull(doc) {
		return nil, ConfigErrors{{File: file, Line: doc.Line, Msg: "config is empty"}}
	}
	return doc, nil
}

func yamlSyntaxError(file string, err error) *ConfigError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	ce := &ConfigError{File: file, Msg: configMsg("%s", msg)}
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Msg = configMsg("%s", m[2])
	}
	return ce
}

// decoder decodes the YAML tree into the config's types by hand, rather
// than with yaml's strict decoder, to report every problem at once with its
// field path (the strict decoder stops at the first error from a custom
// unmarshaler and never says which field a line belongs to), and to
// suggest the closest known key for an unknown one.
type decoder struct {
	file   string
	errs   ConfigErrors
	failed map[string]bool // fields with an error already: validation skips them

	// steps counts nodes visited, aliases followed included; budget
	// bounds it, so that aliases cannot make a small file cost much.
	steps, budget int
	exhausted     bool
	// merging holds the mappings whose keys are being merged, to stop an
	// anchor that merges itself.
	merging map[*yaml.Node]bool
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	d.failed[field] = true
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: n.Line, col: n.Column, Field: configField(field), Msg: configMsg(format, args...)})
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, field string) {
	if d.steps++; d.steps > d.budget {
		if !d.exhausted {
			d.exhausted = true
			d.errorf(n, field, "the document expands too far through aliases")
		}
		return
	}
	n = resolveAlias(n)
	if isNull(n) {
		return // the zero value; validation says when it is required
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		d.leaf(n, v, field)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			if !d.want(n, yaml.MappingNode, field) {
				return
			}
			p := reflect.New(t.Elem())
			d.decode(n, p.Elem(), field)
			v.Set(p)
			return
		}
	case reflect.Struct:
		if d.want(n, yaml.MappingNode, field) {
			d.decodeStruct(n, v, field)
		}
		return
	case reflect.Map:
		if d.want(n, yaml.MappingNode, field) {
			d.decodeMap(n, v, field)
		}
		return
	case reflect.Slice:
		if !d.want(n, yaml.SequenceNode, field) {
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), field+"["+strconv.Itoa(i)+"]")
		}
		v.Set(s)
		return
	case reflect.String:
		// The common case, without yaml's reflection: any scalar but
		// binary reads as its text.
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!binary" {
			v.SetString(n.Value)
			return
		}
	}
	d.leaf(n, v, field)
}

// decodeStruct decodes a mapping into a struct, by the fields' yaml keys;
// an unknown key is an error.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, field string) {
	info := structInfoOf(v.Type())
	d.uniquePairs(n, field, func(k, val *yaml.Node) {
		idx, ok := info.byKey[k.Value]
		if !ok {
			d.unknownField(n, k, val, field, k.Value, info.keys)
			return
		}
		d.decode(val, v.FieldByIndex(idx), join2(field, k.Value))
	})
}

// decodeMap decodes a mapping into a map.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, field string) {
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	d.uniquePairs(n, field, func(k, val *yaml.Node) {
		e := reflect.New(t.Elem()).Elem()
		d.decode(val, e, join2(field, k.Value))
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
	})
}

// uniquePairs calls f for each key and value of a mapping, reporting a key
// set twice instead.
func (d *decoder) uniquePairs(n *yaml.Node, field string, f func(k, val *yaml.Node)) {
	seen := map[string]int{}
	d.pairs(n, func(k, val *yaml.Node) {
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, join2(field, k.Value), "set twice (first on line %d)", line)
			return
		}
		seen[k.Value] = k.Line
		f(k, val)
	})
}

// leaf decodes a value with yaml's own rules and unmarshalers.
func (d *decoder) leaf(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, field, "must be a single value, not %s", kindName(n.Kind))
		return
	}
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var te *yaml.TypeError
	switch {
	case v.Kind() == reflect.Bool:
		d.errorf(n, field, "%q is not true or false", n.Value)
	case errors.As(err, &te) && len(te.Errors) > 0:
		msg := te.Errors[0]
		if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
			msg = m[2]
		}
		d.errorf(n, field, "%s", msg)
	default:
		d.errorf(n, field, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

// want checks that n is of kind, and says what it should be otherwise.
func (d *decoder) want(n *yaml.Node, kind yaml.Kind, field string) bool {
	if n.Kind == kind {
		return true
	}
	d.errorf(n, field, "must be %s, not %s", kindName(kind), kindName(n.Kind))
	return false
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list (- item)"
	default:
		return "a single value"
	}
}

// pairs calls f for each key and value of the mapping n, merged keys
// (<<: *anchor) included; keys written in n win over merged ones.
func (d *decoder) pairs(n *yaml.Node, f func(k, v *yaml.Node)) {
	if d.merging[n] {
		d.errorf(n, "<<", "a merge (<<) refers to the mapping it is in")
		return
	}
	if d.merging == nil {
		d.merging = map[*yaml.Node]bool{}
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	explicit := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		explicit[k.Value] = true
	}
	merged := map[string]bool{}
	var mergeFrom func(m *yaml.Node, depth int)
	mergeFrom = func(m *yaml.Node, depth int) {
		if d.steps++; d.steps > d.budget || depth > 10 {
			return
		}
		m = resolveAlias(m)
		switch m.Kind {
		case yaml.SequenceNode:
			for _, item := range m.Content {
				mergeFrom(item, depth+1)
			}
		case yaml.MappingNode:
			d.pairs(m, func(k, v *yaml.Node) {
				if !explicit[k.Value] && !merged[k.Value] {
					merged[k.Value] = true
					f(k, v)
				}
			})
		default:
			d.errorf(m, "<<", "a merge must name a mapping (<<: *anchor)")
		}
	}
	for _, m := range merges {
		mergeFrom(m, 0)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "", "a key must be a plain name, not %s", kindName(k.Kind))
			continue
		}
		f(k, n.Content[i+1])
	}
}

// unknownField reports a key the type does not have, with the closest
// known key when one is close.
func (d *decoder) unknownField(mapping, k, val *yaml.Node, parent, key string, known []string) {
	field := join2(parent, key)
	s, near := closest(key, known)
	switch {
	case isNull(val) && !near:
		// A lone word in a mapping ({ address: x, hunter2 }) may be a
		// secret pasted in the wrong place: not echoed.
		already := d.failed[parent]
		d.errorf(k, parent, "a key without a value that is not a known field (not shown: it may be a secret pasted by mistake); known fields: %s", strings.Join(known, ", "))
		if !already {
			delete(d.failed, parent) // the rest of the mapping is still checked
		}
	case key == "password" || strings.HasSuffix(key, "_password"):
		// Someone tried to write the secret inline.
		d.errorf(k, field, "unknown field; passwords are read from password_file or password_env, never written in the config")
		d.suppressMissing(mapping, parent, "password_file")
	default:
		if near {
			d.errorf(k, field, "unknown field; did you mean %q?", s)
			d.suppressMissing(mapping, parent, s)
		} else {
			d.errorf(k, field, "unknown field; known fields: %s", strings.Join(known, ", "))
		}
	}
}

// suppressMissing keeps validation from saying that the field key, which
// a reported unknown key stood for, is missing ("is required"): one
// mistake, one error. A field that is there is still checked.
func (d *decoder) suppressMissing(mapping *yaml.Node, parent, key string) {
	budget := 1000
	if k, _ := mappingValue(mapping, key, &budget); k == nil {
		d.failed[join2(parent, key)] = true
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// countNodes counts the nodes of the tree as written, aliases not followed.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch)
	}
	return c
}

func join2(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

type structInfo struct {
	byKey map[string][]int
	keys  []string // in declaration order, for messages
}

var structInfos sync.Map // reflect.Type -> *structInfo

// structInfoOf returns the YAML keys of a struct type, inline fields
// included.
func structInfoOf(t reflect.Type) *structInfo {
	if info, ok := structInfos.Load(t); ok {
		return info.(*structInfo)
	}
	info := &structInfo{byKey: map[string][]int{}}
	var add func(t reflect.Type, prefix []int)
	add = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			idx := append(append([]int{}, prefix...), i)
			if opts == "inline" && f.Type.Kind() == reflect.Struct {
				add(f.Type, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			info.byKey[name] = idx
			info.keys = append(info.keys, name)
		}
	}
	add(t, nil)
	structInfos.Store(t, info)
	return info
}

// closest returns the candidate nearest to s by edit distance, when it is
// near enough to be what was meant.
func closest(s string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		dist := editDistance(ls, strings.ToLower(c))
		if bestDist < 0 || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if bestDist < 0 {
		return "", false
	}
	limit := max(2, len([]rune(s))/3)
	if bestDist <= limit {
		return best, true
	}
	// A key cut short ("ca" for ca_file) is near too.
	for _, c := range candidates {
		if len(s) >= 2 && strings.HasPrefix(strings.ToLower(c), ls) {
			return c, true
		}
	}
	return "", false
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
