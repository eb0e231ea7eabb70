//go:build unix

package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
)

// The sandbox accounts the benchmark's listprobe uses. The passwords are
// public on purpose: the sandbox listens on loopback only and lives as
// long as the benchmark.
const (
	benchMember         = "member@example.org"
	benchMemberPassword = "bench-member-password"
	benchReader         = "reader@example.org"
	benchReaderPassword = "bench-reader-password"
	benchListDomain     = "lists.example.org"
)

// policies are the sandbox policies a mix may name, in the order the
// report shows them.
var policies = []sandbox.Policy{sandbox.Deliver, sandbox.Delay, sandbox.Hold, sandbox.Reject, sandbox.Drop}

// expectedOutcome is the outcome listprobe must report for a list with
// the policy: what the sandbox caused. A delayed list delivers within the
// timeout (parseFlags makes sure of that).
func expectedOutcome(p sandbox.Policy) probe.Outcome {
	switch p {
	case sandbox.Hold:
		return probe.Held
	case sandbox.Reject:
		return probe.Rejected
	case sandbox.Drop:
		return probe.Lost
	default:
		return probe.Delivered
	}
}

// mix is how many lists in each hundred (or any total) get each policy.
type mix map[sandbox.Policy]int

// parseMix reads "deliver=86,delay=4,hold=4,reject=4,drop=2".
func parseMix(s string) (mix, error) {
	m := mix{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("-mix: %q is not policy=weight", part)
		}
		p := sandbox.Policy(strings.TrimSpace(name))
		known := false
		for _, q := range policies {
			known = known || p == q
		}
		if !known {
			return nil, fmt.Errorf("-mix: unknown policy %q (want deliver, delay, hold, reject or drop)", name)
		}
		if _, dup := m[p]; dup {
			return nil, fmt.Errorf("-mix: policy %s appears twice", p)
		}
		w, err := strconv.Atoi(strings.TrimSpace(weight))
		if err != nil || w < 0 {
			return nil, fmt.Errorf("-mix: weight of %s: %q is not a whole number >= 0", p, weight)
		}
		m[p] = w
		total += w
	}
	if total == 0 {
		return nil, fmt.Errorf("-mix: every weight is 0")
	}
	return m, nil
}

func (m mix) String() string {
	var parts []string
	for _, p := range policies {
		if w, ok := m[p]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", p, w))
		}
	}
	return strings.Join(parts, ",")
}

// benchList is one list of the benchmark: its address and what the
// sandbox does with its posts.
type benchList struct {
	Address string
	Policy  sandbox.Policy
}

// plan assigns policies to n lists in the proportions of m, interleaved
// (each list gets the policy furthest behind its share so far), so that
// every policy is spread over the whole list and any prefix of it. The
// address names the policy, which makes a wrong outcome easy to read.
func plan(n int, m mix) []benchList {
	total := 0
	for _, w := range m {
		total += w
	}
	count := map[sandbox.Policy]int{}
	lists := make([]benchList, n)
	for i := range lists {
		var best sandbox.Policy
		bestDeficit := -1.0
		for _, p := range policies {
			w := m[p]
			if w == 0 {
				continue
			}
			deficit := float64(w)*float64(i+1)/float64(total) - float64(count[p])
			if deficit > bestDeficit {
				best, bestDeficit = p, deficit
			}
		}
		count[best]++
		lists[i] = benchList{Address: fmt.Sprintf("bench-%05d-%s@%s", i, best, benchListDomain), Policy: best}
	}
	return lists
}

// sandboxOptions is the mail world for the plan: the reader subscribes to
// every list, the member posts as a (non-receiving) member, and a delayed
// list delivers delay late.
func sandboxOptions(lists []benchList, delay time.Duration) sandbox.Options {
	opts := sandbox.Options{
		Accounts: []sandbox.Account{
			{Address: benchMember, Password: benchMemberPassword},
			{Address: benchReader, Password: benchReaderPassword},
		},
	}
	for _, l := range lists {
		sl := sandbox.List{Address: l.Address, Policy: l.Policy, Subscribers: []string{benchReader}, Members: []string{benchMember}}
		if l.Policy == sandbox.Delay {
			sl.Delay = delay
		}
		opts.Lists = append(opts.Lists, sl)
	}
	return opts
}
