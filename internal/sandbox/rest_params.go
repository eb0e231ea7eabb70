// Request parameters and their conversion, as Mailman's REST layer
// (helpers.py get_request_params, validator.py) reads and checks them.

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// params returns the request's parameters like Mailman's
// get_request_params: a JSON object's members, or the form fields and query
// parameters. A field given more than once has several values.
func (c *restCall) params() (map[string][]string, error) {
	ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var obj map[string]any
		dec := json.NewDecoder(http.MaxBytesReader(nil, c.r.Body, 1<<20))
		if err := dec.Decode(&obj); err != nil {
			return nil, badRequest("Could not parse the JSON body: " + err.Error())
		}
		out := map[string][]string{}
		for k, v := range obj {
			switch v := v.(type) {
			case []any:
				for _, x := range v {
					out[k] = append(out[k], jsonScalar(x))
				}
			default:
				out[k] = []string{jsonScalar(v)}
			}
		}
		return out, nil
	}
	c.r.Body = http.MaxBytesReader(nil, c.r.Body, 1<<20)
	if err := c.r.ParseForm(); err != nil {
		return nil, badRequest("Could not parse the form: " + err.Error())
	}
	return c.r.Form, nil
}

func jsonScalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// sortedKeys returns the keys of p in order, so that error messages do not
// depend on map order.
func sortedKeys(p map[string][]string) []string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// single is the one value of a parameter given once.
func single(v []string) (string, error) {
	if len(v) != 1 {
		return "", errors.New("Expected a single value")
	}
	return v[0], nil
}

// asBoolean is lazr.config's as_boolean.
func asBoolean(v []string) (bool, error) {
	s, err := single(v)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "true", "yes", "1", "on", "enabled", "enable":
		return true, nil
	case "false", "no", "0", "off", "disabled", "disable":
		return false, nil
	}
	return false, fmt.Errorf("Invalid boolean value: %s", s)
}

// asAction is validator.py enum_validator(Action).
func asAction(v []string, allowBlank bool) (Action, error) {
	s, err := single(v)
	if err != nil {
		return "", err
	}
	if s == "" && allowBlank {
		return "", nil
	}
	if a := Action(s); a.valid() {
		return a, nil
	}
	names := make([]string, len(actionOrder))
	for i, a := range actionOrder {
		names[i] = string(a)
	}
	return "", fmt.Errorf("Accepted Values are: %s", strings.Join(names, ", "))
}

// invalidParams is validator.py's message for parameters that do not
// convert.
func invalidParams(bad map[string]error) error {
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msgs := make([]string, len(keys))
	for i, k := range keys {
		msgs[i] = fmt.Sprintf("Invalid Parameter %q: %s.", k, bad[k])
	}
	return badRequest(strings.Join(msgs, " "))
}

// unexpected checks that p has only the allowed keys (validator.py
// "Unexpected parameters").
func unexpected(p map[string][]string, allowed ...string) error {
	var extra []string
	for _, k := range sortedKeys(p) {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		if !found {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		return badRequest("Unexpected parameters: " + strings.Join(extra, ", "))
	}
	return nil
}
