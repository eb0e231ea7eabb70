package authn

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// ARCChain is the Authenticated Received Chain of a message (RFC 8617).
type ARCChain struct {
	Instances int `json:"instances"`
	// Result is the chain validation status of RFC 8617 section 5.2:
	// none (no ARC fields), pass, fail; temperror when a key lookup
	// failed, unchecked when the newest message signature needs the body.
	Result Result   `json:"result"`
	Reason string   `json:"reason,omitempty"`
	Sets   []ARCSet `json:"sets,omitempty"`
}

// ARCSet is one instance of the chain.
type ARCSet struct {
	Instance int    `json:"instance"`
	Domain   string `json:"domain"` // the seal's d=
	CV       string `json:"cv"`     // the seal's cv=
	// Seal says whether the ARC-Seal verifies.
	Seal Result `json:"seal"`
	// MessageSignature says whether the ARC-Message-Signature verifies
	// over the message as received. Only the newest set's is required by
	// the chain validation; the list's own set's is checked too. Empty:
	// not checked.
	MessageSignature Result `json:"message_signature,omitempty"`
	Reason           string `json:"reason,omitempty"`

	aar, ams, seal field
	sealTags       map[string]string
}

// verifyARC validates the chain (RFC 8617 section 5.2).
func (s *state) verifyARC() {
	c := &s.v.ARC
	if s.msg.HeaderTruncated {
		// Sets may be cut off: neither their structure nor seals can be judged.
		c.Result, c.Reason = ResultUnchecked, reasonHeaderCut
		return
	}
	sets, err := collectARC(s.fields)
	c.Instances = len(sets)
	if err != nil {
		c.Result, c.Reason = ResultFail, err.Error()
		return
	}
	if len(sets) == 0 {
		c.Result, c.Reason = ResultNone, "no ARC fields"
		return
	}
	c.Sets = sets
	// Verify every seal, newest first, so that each set's own result is
	// known (section 5.2 steps 5 and 6).
	for k := len(sets) - 1; k >= 0; k-- {
		sets[k].Seal, sets[k].Reason = s.verifySeal(sets, k)
	}
	newest := &sets[len(sets)-1]
	newest.MessageSignature = s.verifyAMS(newest)
	for k := range sets {
		if k != len(sets)-1 && s.isListDomain(sets[k].Domain) && sets[k].Seal == ResultPass {
			sets[k].MessageSignature = s.verifyAMS(&sets[k])
		}
	}
	c.Result, c.Reason = chainStatus(sets)
}

// chainStatus combines the sets' results into the chain's (section 5.2).
func chainStatus(sets []ARCSet) (Result, string) {
	newest := sets[len(sets)-1]
	// Step 2: a chain that a sealer already called failed stays failed.
	if newest.CV == "fail" {
		return ResultFail, fmt.Sprintf("instance %d says cv=fail", newest.Instance)
	}
	// Section 4.1.3 (cv) and 5.2 step 3: the first set says none, every
	// later one pass.
	for _, set := range sets {
		want := "pass"
		if set.Instance == 1 {
			want = "none"
		}
		if set.CV != want {
			return ResultFail, fmt.Sprintf("instance %d has cv=%q, want %s", set.Instance, set.CV, want)
		}
	}
	temp := ""
	for k := len(sets) - 1; k >= 0; k-- {
		switch sets[k].Seal {
		case ResultPass:
		case ResultTempError:
			temp = fmt.Sprintf("seal %d: %s", sets[k].Instance, sets[k].Reason)
		default:
			return ResultFail, fmt.Sprintf("seal %d of %s does not verify: %s", sets[k].Instance, sets[k].Domain, sets[k].Reason)
		}
	}
	if temp != "" {
		return ResultTempError, temp
	}
	switch newest.MessageSignature {
	case ResultPass:
		return ResultPass, fmt.Sprintf("%d sets; seals and newest message signature (%s) verify", len(sets), newest.Domain)
	case ResultUnchecked:
		return ResultUnchecked, "seals verify; message signature: " + newest.Reason
	case ResultTempError:
		return ResultTempError, "message signature: " + newest.Reason
	}
	return ResultFail, fmt.Sprintf("message signature %d does not verify: %s", newest.Instance, newest.Reason)
}

// collectARC groups the ARC fields into sets by instance and checks the
// structure: instances 1..N, each with exactly one field of each kind
// (section 5.2 step 3), at most maxARCSets.
func collectARC(fields []field) ([]ARCSet, error) {
	byInstance := map[int]*ARCSet{}
	count := 0
	for _, f := range fields {
		var slot func(*ARCSet) *field
		switch f.lower {
		case "arc-seal":
			slot = func(a *ARCSet) *field { return &a.seal }
		case "arc-message-signature":
			slot = func(a *ARCSet) *field { return &a.ams }
		case "arc-authentication-results":
			slot = func(a *ARCSet) *field { return &a.aar }
		default:
			continue
		}
		count++
		if count > 3*maxARCSets {
			return nil, fmt.Errorf("more than %d ARC sets", maxARCSets)
		}
		i, err := arcInstance(f)
		if err != nil {
			return nil, err
		}
		set := byInstance[i]
		if set == nil {
			set = &ARCSet{Instance: i}
			byInstance[i] = set
		}
		if p := slot(set); p.raw != "" {
			return nil, fmt.Errorf("instance %d has two %s fields", i, f.lower)
		} else {
			*p = f
		}
	}
	sets := make([]ARCSet, 0, len(byInstance))
	for i := 1; i <= len(byInstance); i++ {
		set, ok := byInstance[i]
		if !ok {
			return nil, fmt.Errorf("ARC instances are not numbered 1 to %d", len(byInstance))
		}
		if set.aar.raw == "" || set.ams.raw == "" || set.seal.raw == "" {
			return nil, fmt.Errorf("ARC instance %d is incomplete", i)
		}
		tags, err := parseTags(set.seal.value())
		if err != nil {
			return nil, fmt.Errorf("ARC-Seal %d: %v", i, err)
		}
		set.sealTags = tags
		set.Domain = normDomain(stripWSP(tags["d"]))
		set.CV = strings.ToLower(stripWSP(tags["cv"]))
		sets = append(sets, *set)
	}
	return sets, nil
}

// arcInstance reads i= of an ARC field: a tag of the seal and the message
// signature, the first item of ARC-Authentication-Results (section 4.1.1).
func arcInstance(f field) (int, error) {
	v := f.value()
	if f.lower == "arc-authentication-results" {
		v, _, _ = strings.Cut(v, ";")
	} else {
		tags, err := parseTags(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", f.lower, err)
		}
		v = "i=" + tags["i"]
	}
	k, val, ok := strings.Cut(stripWSP(v), "=")
	i, err := strconv.Atoi(val)
	if !ok || k != "i" || err != nil || i < 1 || i > maxARCSets {
		return 0, fmt.Errorf("%s: bad instance %q", f.lower, v)
	}
	return i, nil
}

// verifySeal checks the seal of sets[k]: its signature over the ARC sets 1
// to k, each as ARC-Authentication-Results, ARC-Message-Signature,
// ARC-Seal, relaxed, the seal itself with an empty b= (section 5.1.1).
func (s *state) verifySeal(sets []ARCSet, k int) (Result, string) {
	set := sets[k]
	tags := set.sealTags
	if tags["h"] != "" {
		return ResultFail, "an ARC-Seal must not have h= (section 4.1.3)"
	}
	var data strings.Builder
	for j := 0; j < k; j++ {
		data.WriteString(canonHeader(sets[j].aar.raw, true))
		data.WriteString(canonHeader(sets[j].ams.raw, true))
		data.WriteString(canonHeader(sets[j].seal.raw, true))
	}
	data.WriteString(canonHeader(set.aar.raw, true))
	data.WriteString(canonHeader(set.ams.raw, true))
	data.WriteString(strings.TrimSuffix(canonHeader(withoutSignature(set.seal.raw), true), "\r\n"))
	key, err := lookupKey(s.l, set.Domain, stripWSP(tags["s"]))
	if err == nil {
		err = key.verify(stripWSP(tags["a"]), []byte(data.String()), tags["b"])
	}
	if err != nil {
		return resultOf(err), err.Error()
	}
	return ResultPass, ""
}

// verifyAMS checks an ARC-Message-Signature over the message as received,
// as a DKIM signature (section 4.1.2): body hash, then the signature over
// the fields of h= and itself.
func (s *state) verifyAMS(set *ARCSet) Result {
	r, reason := s.checkAMS(set.ams)
	if r != ResultPass {
		set.Reason = strings.TrimPrefix(strings.TrimSpace(set.Reason+"; message signature: "+reason), "; ")
	}
	return r
}

func (s *state) checkAMS(f field) (Result, string) {
	tags, err := parseTags(f.value())
	if err != nil {
		return ResultPermError, err.Error()
	}
	for _, t := range []string{"a", "b", "bh", "d", "h", "s"} {
		if _, ok := tags[t]; !ok {
			return ResultPermError, "no " + t + "= tag"
		}
	}
	if _, ok := tags["l"]; ok {
		return ResultFail, "l= leaves part of the body unsigned"
	}
	h := tagList(tags["h"])
	if len(h) > maxSignedFields {
		return ResultPermError, fmt.Sprintf("h= lists %d fields, more than %d", len(h), maxSignedFields)
	}
	headerCan, bodyCan, _ := strings.Cut(stripWSP(tags["c"]), "/")
	if headerCan == "" {
		headerCan = "simple"
	}
	if bodyCan == "" {
		bodyCan = "simple"
	}
	if (headerCan != "simple" && headerCan != "relaxed") || (bodyCan != "simple" && bodyCan != "relaxed") {
		return ResultPermError, fmt.Sprintf("unknown canonicalization %q", tags["c"])
	}
	if !s.complete() {
		return ResultUnchecked, s.uncheckedWhy()
	}
	bh, err := bodyHash(s.msg.Body, dkim.Canonicalization(bodyCan))
	if err != nil {
		return ResultPermError, err.Error()
	}
	if bh != stripWSP(tags["bh"]) {
		return ResultFail, "body hash did not verify"
	}
	key, err := lookupKey(s.l, normDomain(stripWSP(tags["d"])), stripWSP(tags["s"]))
	if err == nil {
		err = key.verify(stripWSP(tags["a"]), headerData(s.fields, h, f.raw, headerCan == "relaxed"), tags["b"])
	}
	if err != nil {
		return resultOf(err), err.Error()
	}
	return ResultPass, ""
}

// arcPath finds a set of the list's domains whose seal and message
// signature both verify: the list server sealed the message as it is.
func (s *state) arcPath() (ok bool, reason string) {
	if len(s.v.ARC.Sets) == 0 && s.v.ARC.Result == ResultUnchecked {
		return false, "ARC chain not checked: " + s.v.ARC.Reason
	}
	for k := len(s.v.ARC.Sets) - 1; k >= 0; k-- {
		set := s.v.ARC.Sets[k]
		if !s.isListDomain(set.Domain) {
			continue
		}
		if set.Seal == ResultPass && set.MessageSignature == ResultPass {
			return true, fmt.Sprintf("ARC set %d of %s verifies (seal and message signature)", set.Instance, set.Domain)
		}
		if reason == "" {
			reason = fmt.Sprintf("ARC set %d of %s does not verify: %s", set.Instance, set.Domain, set.Reason)
		}
	}
	return false, reason
}
