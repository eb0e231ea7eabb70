// The parts of configure that check and set up one of Options.Lists.

package sandbox

import (
	"fmt"
	"strings"
)

// checkListPolicy checks Lists[i]'s Policy and Delay.
func checkListPolicy(i int, l List, addr string) error {
	if !l.Policy.valid() {
		return fmt.Errorf("sandbox: Lists[%d] (%s): unknown Policy %q", i, addr, l.Policy)
	}
	if l.Policy == Delay && l.Delay <= 0 {
		return fmt.Errorf("sandbox: Lists[%d] (%s): Policy delay needs a positive Delay", i, addr)
	}
	if l.Delay < 0 {
		return fmt.Errorf("sandbox: Lists[%d] (%s): Delay is negative", i, addr)
	}
	return nil
}

// addRosters fills the Mailman rosters of Lists[i] (st): its moderators,
// its subscribers as members, and its Members (default: every account).
func (w *World) addRosters(st *listState, i int, l List, accounts []Account) error {
	for j, s := range l.Moderators {
		ma, err := parseAddress(s)
		if err != nil {
			return fmt.Errorf("sandbox: Lists[%d].Moderators[%d]: %w", i, j, err)
		}
		if _, ok := w.accounts[ma]; !ok {
			return fmt.Errorf("sandbox: Lists[%d].Moderators[%d] %s is not an account", i, j, ma)
		}
		st.mods = append(st.mods, ma)
		w.addMembership(st, ma, "moderator")
	}
	for _, s := range st.subs {
		w.addMembership(st, s, "member")
	}
	for j, s := range l.Members {
		ma, err := parseAddress(s)
		if err != nil {
			return fmt.Errorf("sandbox: Lists[%d].Members[%d]: %w", i, j, err)
		}
		w.addMembership(st, ma, "member")
	}
	if len(l.Members) == 0 {
		for _, a := range accounts {
			w.addMembership(st, strings.ToLower(a.Address), "member")
		}
	}
	return nil
}
