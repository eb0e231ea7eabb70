package web

import "github.com/listprobe/listprobe/probe"

// authView is one check of a copy's authentication verdict as the pages
// show it: a pill on the status page, a row on the probe's page.
type authView struct {
	Name   string // dkim, spf, dmarc, arc, list_id, one_click_unsubscribe
	Result string // pass, fail, none, with the detail: "none (temperror)"
	Domain string
	Reason string
	Class  string // ok, bad or muted: how the pill is coloured
}

// authViews lays out a copy's verdict; nil when it has none.
func authViews(a *probe.Authentication) []authView {
	if a == nil {
		return nil
	}
	var out []authView
	for _, c := range a.Each() {
		v := authView{Name: c.Name, Result: string(c.Result), Domain: orDash(readable(c.Domain)), Reason: readable(c.Reason), Class: "muted"}
		if c.Detail != "" {
			v.Result += " (" + c.Detail + ")"
		}
		switch {
		case !c.Known():
		case c.Result == probe.AuthPass:
			v.Class = "ok"
		case c.Result == probe.AuthFail:
			v.Class = "bad"
		}
		out = append(out, v)
	}
	return out
}
