package sympaarchive

import (
	"bytes"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// confirmButton is the name of the "I am not a spammer" button of Sympa's
// confirm_action page (web_tt2/confirm_action.tt2): WWSympa reads a
// submitted response_action_confirm as response_action=confirm.
const confirmButton = "response_action_confirm"

// page is what listprobe reads in a WWSympa page.
type page struct {
	// action is the action WWSympa rendered, which its main template puts
	// last in the title ("<list> - <subject> - <action>").
	action string
	// confirm is the "I am not a spammer" form, if the page has one.
	confirm *form
	// crash is the error an internal-error page shows ("Error: ...").
	crash string
	// errors is the text of the page's error box (div id="ErrorMsg"),
	// e.g. "ERROR () - List 'x' does not exist."
	errors string
	// sympa: the page says Sympa generated it (meta generator).
	sympa bool
}

// form is an HTML form as a browser would submit it with confirmButton.
type form struct {
	action, method string
	values         url.Values
	hasButton      bool
}

// parsePage reads a WWSympa page with an HTML tokenizer.
func parsePage(body []byte) page {
	var p page
	var cur *form
	inTitle := false
	errDepth := 0 // the depth of divs inside the error box, while in it
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return p
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			switch t.Data {
			case "title":
				inTitle = p.action == ""
			case "form":
				cur = &form{action: attr(t, "action"), method: attr(t, "method"), values: url.Values{}}
			case "input", "button":
				if cur != nil {
					cur.add(t)
				}
			case "meta":
				p.sympa = p.sympa || (attr(t, "name") == "generator" && strings.HasPrefix(attr(t, "content"), "Sympa"))
			case "div":
				if errDepth > 0 || attr(t, "id") == "ErrorMsg" {
					errDepth++
				}
			}
		case html.EndTagToken:
			switch z.Token().Data {
			case "div":
				if errDepth > 0 {
					errDepth--
				}
			case "title":
				inTitle = false
			case "form":
				if cur != nil && cur.hasButton && p.confirm == nil {
					p.confirm = cur
				}
				cur = nil
			}
		case html.TextToken:
			text := strings.TrimSpace(string(z.Text()))
			switch {
			case inTitle:
				p.action = titleAction(text)
			case errDepth > 0 && text != "" && len(p.errors) < maxErrorText:
				p.errors = strings.TrimSpace(p.errors + " " + strings.Join(strings.Fields(text), " "))
			case p.crash == "" && strings.HasPrefix(text, "Error:"):
				p.crash = crashLine(text)
			}
		}
	}
}

// add records an input of the form as a browser submitting it with
// confirmButton would: named fields with their values, checked boxes
// only, and of the buttons only confirmButton.
func (f *form) add(t html.Token) {
	name := attr(t, "name")
	if name == "" {
		return
	}
	typ := strings.ToLower(attr(t, "type"))
	if t.Data == "button" && typ == "" {
		typ = "submit"
	}
	switch typ {
	case "submit", "image", "button", "reset":
		if name != confirmButton {
			return
		}
		f.hasButton = true
	case "checkbox", "radio":
		if !hasAttr(t, "checked") {
			return
		}
	case "file":
		return
	}
	f.values.Add(name, attr(t, "value"))
}

// maxErrorText bounds the error box's text kept.
const maxErrorText = 300

// titleAction is the last " - " part of a WWSympa title ("" when the
// title ends with " -": a page of no action).
func titleAction(title string) string {
	title = strings.TrimSpace(title)
	if strings.HasSuffix(title, " -") {
		return ""
	}
	if i := strings.LastIndex(title, " - "); i >= 0 {
		title = title[i+3:]
	}
	return strings.TrimSpace(title)
}

// crashLine is the first line of an "Error: ..." text, without the file
// and line of the Perl code, bounded.
func crashLine(text string) string {
	text = strings.TrimSpace(strings.TrimPrefix(text, "Error:"))
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	if i := strings.Index(text, " at /"); i >= 0 {
		text = text[:i]
	}
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return text
}

func attr(t html.Token, key string) string {
	for _, a := range t.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(t html.Token, key string) bool {
	for _, a := range t.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}
