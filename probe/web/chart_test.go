package web

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/probe"
)

var chartStart = time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)

func delivered(i int, latency float64) probe.Sample {
	return probe.Sample{At: chartStart.Add(time.Duration(i) * 5 * time.Minute), Outcome: probe.Delivered, OK: true, Latency: latency}
}

func failed(i int, o probe.Outcome) probe.Sample {
	return probe.Sample{At: chartStart.Add(time.Duration(i) * 5 * time.Minute), Outcome: o, Latency: math.NaN()}
}

// svgShape is what renderChart found in the chart's SVG.
type svgShape struct {
	svg            bool
	title          string
	dots, bands    int
	bandClasses    map[string]int
	polylinePoints int
	texts          []string
}

// renderChart draws c with the page's own template and checks, as an XML
// parser reads it, that every coordinate is a finite number inside the
// chart.
func renderChart(t *testing.T, c Chart) (string, svgShape) {
	t.Helper()
	var b bytes.Buffer
	if err := statusTemplate.ExecuteTemplate(&b, "chart", c); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"NaN", "Inf", "e+", "e-"} {
		if strings.Contains(out, bad) {
			t.Errorf("chart contains %q:\n%s", bad, out)
		}
	}
	shape := svgShape{bandClasses: map[string]int{}}
	if !strings.HasPrefix(out, "<svg") {
		return out, shape
	}
	shape.svg = true
	d := xml.NewDecoder(strings.NewReader(out))
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed SVG: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
			shape.start(t, tok)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			text := strings.TrimSpace(string(tok))
			if len(stack) == 2 && stack[1] == "title" {
				shape.title = text
			}
			if len(stack) > 0 && stack[len(stack)-1] == "text" {
				shape.texts = append(shape.texts, text)
			}
		}
	}
	return out, shape
}

// start checks an element's coordinates and counts the marks it draws.
func (shape *svgShape) start(t *testing.T, tok xml.StartElement) {
	t.Helper()
	inBound := func(name, v string, max float64) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > max {
			t.Errorf("%s=%q is not a coordinate within 0..%v", name, v, max)
		}
	}
	for _, a := range tok.Attr {
		switch a.Name.Local {
		case "x", "x1", "x2", "cx", "width":
			inBound(a.Name.Local, a.Value, chartWidth)
		case "y", "y1", "y2", "cy", "height":
			inBound(a.Name.Local, a.Value, chartHeight)
		case "points":
			for _, p := range strings.Fields(a.Value) {
				x, y, ok := strings.Cut(p, ",")
				if !ok {
					t.Errorf("point %q", p)
				}
				inBound("x", x, chartWidth)
				inBound("y", y, chartHeight)
				shape.polylinePoints++
			}
		case "d":
			checkPath(t, a.Value)
		}
	}
	if tok.Name.Local != "path" {
		return
	}
	class, d, marks := attr(tok, "class"), attr(tok, "d"), attr(tok, "data-marks")
	n := strings.Count(d, "M")
	if fmt.Sprint(n) != marks {
		t.Errorf("path %q draws %d marks, says %s", d, n, marks)
	}
	kind, cls, _ := strings.Cut(class, " ")
	switch kind {
	case "dot":
		shape.dots += n
	case "band":
		shape.bands += n
		shape.bandClasses[cls] += n
	default:
		t.Errorf("path of class %q", class)
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var pathStep = regexp.MustCompile(`M([-0-9.]+),([-0-9.]+)(?:h([-0-9.]+)v([-0-9.]+)h-([-0-9.]+)Z|a2.2,2.2 0 1,0 4.4,0a2.2,2.2 0 1,0 -4.4,0Z)`)

// checkPath checks that a band's or dot's path stays inside the chart.
func checkPath(t *testing.T, d string) {
	t.Helper()
	rest := pathStep.ReplaceAllStringFunc(d, func(step string) string {
		m := pathStep.FindStringSubmatch(step)
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		right, bottom := x+4.4, y
		if m[3] != "" {
			w, _ := strconv.ParseFloat(m[3], 64)
			h, _ := strconv.ParseFloat(m[4], 64)
			right, bottom = x+w, y+h
		}
		if !(x >= 0 && y >= 2.2 && right <= chartWidth && bottom <= chartHeight-2.2) {
			t.Errorf("mark %q is not inside the chart", step)
		}
		return ""
	})
	if rest != "" {
		t.Errorf("path %q has steps that are not marks: %q", d, rest)
	}
}

func TestChartOfEmptyHistorySaysSo(t *testing.T) {
	c := latencyChart("users@lists.example.org", nil)
	if c.Probes != 0 || len(c.Dots) != 0 || len(c.Bands) != 0 || c.Line != "" {
		t.Errorf("empty chart has marks: %+v", c)
	}
	out, shape := renderChart(t, c)
	if shape.svg {
		t.Errorf("an empty history draws an SVG:\n%s", out)
	}
	if !strings.Contains(out, "No probes of users@lists.example.org yet") {
		t.Errorf("empty chart says %q", out)
	}
}

func TestChartDrawsDeliveredLatenciesOnAScale(t *testing.T) {
	samples := []probe.Sample{delivered(0, 0.5), delivered(1, 3), delivered(2, 0), delivered(3, 1.2)}
	c := latencyChart("users@lists.example.org", samples)
	_, shape := renderChart(t, c)
	if shape.dots != 4 || shape.bands != 0 || shape.polylinePoints != 4 {
		t.Fatalf("dots %d, bands %d, line points %d; want 4, 0, 4", shape.dots, shape.bands, shape.polylinePoints)
	}
	// 3 s is the slowest: the scale goes to 5 s, 3 s is at 3/5 of the
	// height, 0 s on the axis.
	if c.YMax != "5 s" {
		t.Errorf("scale top %q, want 5 s", c.YMax)
	}
	wantY := float64(plotBottom - 0.6*(plotBottom-plotTop))
	if got := float64(c.Dots[1].Y); math.Abs(got-wantY) > 0.05 {
		t.Errorf("3 s drawn at y=%v, want %v", got, wantY)
	}
	if c.Dots[2].Y != plotBottom {
		t.Errorf("0 s drawn at y=%v, want the axis %v", c.Dots[2].Y, plotBottom)
	}
	// Oldest left, newest right, evenly spaced.
	for i := 1; i < len(c.Dots); i++ {
		if c.Dots[i].X <= c.Dots[i-1].X {
			t.Errorf("dot %d at x=%v is not right of dot %d at x=%v", i, c.Dots[i].X, i-1, c.Dots[i-1].X)
		}
	}
	for _, want := range []string{"Latency of the last 4 probes of users@lists.example.org", "4 delivered", "slowest 3.000 s", "0 failed"} {
		if !strings.Contains(shape.title, want) {
			t.Errorf("title %q does not say %q", shape.title, want)
		}
	}
	if !strings.Contains(shape.title, "newest 1.200 s") || !strings.Contains(shape.title, "from 2026-11-25 16:00 UTC to 2026-11-25 16:15 UTC") {
		t.Errorf("title %q", shape.title)
	}
	// Four probes fill the right third: no room for the oldest one's time.
	if texts := strings.Join(shape.texts, "|"); texts != "5 s|0|16:15 UTC" {
		t.Errorf("axis labels %q", texts)
	}
	if last := c.Dots[3]; math.Abs(float64(last.X)-(plotRight-(plotRight-plotLeft)/minChartSlots/2)) > 0.05 {
		t.Errorf("the newest probe is drawn at x=%v, not in the rightmost column", last.X)
	}
}

func TestChartOfALongHistoryLabelsBothEnds(t *testing.T) {
	var samples []probe.Sample
	for i := range 20 {
		samples = append(samples, delivered(i, 0.2))
	}
	c := latencyChart("users@lists.example.org", samples)
	_, shape := renderChart(t, c)
	if texts := strings.Join(shape.texts, "|"); texts != "200 ms|0|16:00 UTC|17:35 UTC" {
		t.Errorf("axis labels %q", texts)
	}
	if c.Dots[0].X >= c.Dots[1].X || float64(c.Dots[0].X) > plotLeft+(plotRight-plotLeft)/20 {
		t.Errorf("the oldest of 20 probes is drawn at x=%v", c.Dots[0].X)
	}
}

func TestChartOfOnlyFailuresHasNoLatencyScale(t *testing.T) {
	samples := []probe.Sample{failed(0, probe.Lost), failed(1, probe.Held), failed(2, probe.Rejected), failed(3, probe.SendFailed), failed(4, probe.Error)}
	c := latencyChart("users@lists.example.org", samples)
	out, shape := renderChart(t, c)
	if shape.dots != 0 || shape.bands != 5 || shape.polylinePoints != 0 {
		t.Fatalf("dots %d, bands %d, line %d; want 0, 5, 0:\n%s", shape.dots, shape.bands, shape.polylinePoints, out)
	}
	if shape.bandClasses["bad"] != 4 || shape.bandClasses["err"] != 1 {
		t.Errorf("band classes %v, want 4 bad and 1 err (listprobe could not observe)", shape.bandClasses)
	}
	if c.YMax != "" || strings.Contains(out, "y-max") {
		t.Errorf("a chart without deliveries shows a latency scale %q", c.YMax)
	}
	if !strings.Contains(shape.title, "0 delivered, 4 failed, 1 not observed") {
		t.Errorf("title %q", shape.title)
	}
}

func TestChartOfExpectedHoldIsNotAFailure(t *testing.T) {
	s := failed(0, probe.Held)
	s.OK = true
	c := latencyChart("announce@lists.example.org", []probe.Sample{s})
	_, shape := renderChart(t, c)
	if shape.bandClasses["ok"] != 1 || !strings.Contains(shape.title, "0 failed, 1 as expected without delivery") {
		t.Errorf("band classes %v, title %q", shape.bandClasses, shape.title)
	}
	if shape.texts[len(shape.texts)-1] != "16:00 UTC" {
		t.Errorf("one probe: labels %q", shape.texts)
	}
}

// Whatever the history holds, the chart stays within its box, holds no
// NaN, and draws at most probe.MaxSamples marks.
func TestChartIsBoundedWhateverTheSamples(t *testing.T) {
	odd := []float64{math.NaN(), math.Inf(1), math.Inf(-1), -5, 0, 1e-9, 0.25, 3, 1e300, math.MaxFloat64, 4e6}
	var samples []probe.Sample
	for i := range 1000 {
		s := delivered(i, odd[i%len(odd)])
		switch i % 7 {
		case 3:
			s = failed(i, probe.Lost)
		case 5:
			s.OK = false // delivered to an announcement list
		}
		samples = append(samples, s)
	}
	c := latencyChart("users@lists.example.org", samples)
	out, shape := renderChart(t, c)
	if c.Probes != probe.MaxSamples || shape.dots+shape.bands != probe.MaxSamples {
		t.Errorf("%d probes drawn as %d dots and %d bands, want %d in all", c.Probes, shape.dots, shape.bands, probe.MaxSamples)
	}
	if len(out) > 32<<10 {
		t.Errorf("chart of %d samples is %d bytes", len(samples), len(out))
	}
	// Non-finite latencies are drawn as probes without a latency.
	finite := 0
	for _, s := range samples[len(samples)-probe.MaxSamples:] {
		if s.Outcome == probe.Delivered && !math.IsNaN(s.Latency) && !math.IsInf(s.Latency, 0) {
			finite++
		}
	}
	if shape.dots != finite {
		t.Errorf("%d dots, want one for each of the %d finite latencies", shape.dots, finite)
	}
	if c.YMax != "12 d" {
		t.Errorf("scale top %q, want the cap's", c.YMax)
	}
	// The newest samples are the ones drawn.
	if want := chartTime(samples[len(samples)-1].At, samples[len(samples)-probe.MaxSamples].At); c.XLast != want {
		t.Errorf("newest label %q, want %q", c.XLast, want)
	}
}

func TestChartLabelsDatesWhenItSpansDays(t *testing.T) {
	var samples []probe.Sample
	for i := range minChartSlots {
		samples = append(samples, delivered(i, 1))
	}
	samples[len(samples)-1].At = samples[0].At.Add(30 * time.Hour)
	c := latencyChart("users@lists.example.org", samples)
	if c.XFirst != "Nov 25 16:00" || c.XLast != "Nov 26 22:00" {
		t.Errorf("labels %q .. %q", c.XFirst, c.XLast)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0, 0.01}, {-1, 0.01}, {math.NaN(), 0.01}, {0.002, 0.01}, {0.011, 0.02}, {0.3, 0.5}, {1, 1}, {1.01, 2}, {3, 5}, {7, 10}, {60, 100}, {240, 500},
	} {
		if got := niceCeil(tc.in); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   float64
		want string
	}{{0.01, "10 ms"}, {0.5, "500 ms"}, {1, "1 s"}, {50, "50 s"}, {500, "8 min"}, {20000, "6 h"}, {1e6, "12 d"}} {
		if got := formatSeconds(tc.in); got != tc.want {
			t.Errorf("formatSeconds(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
