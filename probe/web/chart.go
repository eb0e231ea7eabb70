package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/listprobe/listprobe/probe"
)

// The latency chart's size in CSS pixels and its plot area inside it: the
// left margin holds the latency labels, the bottom one the time labels.
const (
	chartWidth  = 240
	chartHeight = 64
	plotLeft    = 40.0
	plotRight   = chartWidth - 4.0
	plotTop     = 6.0
	plotBottom  = chartHeight - 14.0

	// minChartSlots is the narrowest a probe's column gets wide: a short
	// history fills the chart from the right, newest last, instead of
	// stretching one probe across it.
	minChartSlots = 12

	// maxChartSeconds caps the latency scale: no real latency comes near
	// it, and a garbage value must not push the others to zero or make
	// the coordinates overflow.
	maxChartSeconds = 1e6
)

// px is an SVG coordinate, written with one decimal.
type px float64

func (p px) String() string { return string(p.append(nil)) }

// append writes p to b: charts of many lists are written on every page
// load, and fmt would be most of their cost.
func (p px) append(b []byte) []byte { return strconv.AppendFloat(b, float64(p), 'f', 1, 64) }

// Chart is a list's latency history laid out for the status page's inline
// SVG: the template draws it; every coordinate lies within Width×Height,
// whatever the samples hold. The marks of one kind are drawn as one path:
// a page of many lists stays cheap to render (html/template escapes each
// value it writes, and a chart has up to probe.MaxSamples marks).
type Chart struct {
	Width, Height int
	Probes        int    // the number of probes drawn, one mark each
	Title         string // what the chart shows, for <title> and aria-label
	// Plot area and axis labels.
	Left, Right, Top, Bottom px
	YMax, YZero              string // latency at the top and bottom of the plot; YMax "" when nothing was delivered
	XFirst, XLast            string // when the oldest and newest probes finished; XFirst "" when it would crowd XLast
	XFirstAt                 px     // where the oldest probe is drawn
	// Line joins the delivered probes' latencies, oldest first ("" when
	// fewer than two).
	Line string
	// Dots are the delivered probes, Bands the others, oldest first; Paths
	// draw them, one per kind and class.
	Dots  []ChartDot
	Bands []ChartBand
	Paths []ChartPath
}

// ChartDot is a delivered probe at its latency.
type ChartDot struct {
	X, Y  px
	Class string // ok, or bad when delivered was not the expected outcome
}

// ChartBand is a probe that was not delivered: a column of the plot's
// height.
type ChartBand struct {
	X, W  px
	Class string // bad for a list failure, err when listprobe could not observe, ok when expected
}

// ChartPath draws N marks of one kind ("dot" or "band") and class.
type ChartPath struct {
	Kind, Class string
	D           string
	N           int
}

// dotRadius is a delivered probe's dot.
const dotRadius = 2.2

// latencyChart lays out a list's samples (oldest first); at most the newest
// probe.MaxSamples are drawn, evenly spaced, the newest at the right.
func latencyChart(list string, samples []probe.Sample) Chart {
	if len(samples) > probe.MaxSamples {
		samples = samples[len(samples)-probe.MaxSamples:]
	}
	c := Chart{Width: chartWidth, Height: chartHeight, Probes: len(samples),
		Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: plotBottom, YZero: "0"}
	if len(samples) == 0 {
		c.Title = "No probes of " + list + " yet"
		return c
	}
	var delivered, failed, errs int
	maxLatency := 0.0
	for _, s := range samples {
		if lat, ok := chartLatency(s); ok {
			delivered++
			maxLatency = math.Max(maxLatency, lat)
		} else if !s.OK && s.Outcome == probe.Error {
			errs++
		} else if !s.OK {
			failed++
		}
	}
	top := niceCeil(maxLatency)
	if delivered > 0 {
		// Without a delivered probe there is no latency to scale.
		c.YMax = formatSeconds(top)
	}
	slots := max(len(samples), minChartSlots)
	slot := (plotRight - plotLeft) / float64(slots)
	first := plotLeft + float64(slots-len(samples))*slot

	c.XLast = chartTime(samples[len(samples)-1].At, samples[0].At)
	// Each time label takes about 50 px of the 9 px font.
	if xFirst := chartTime(samples[0].At, samples[len(samples)-1].At); xFirst != c.XLast && plotRight-first >= 110 {
		c.XFirst, c.XFirstAt = xFirst, px(first)
	}
	gap := 0.0
	if slot >= 4 {
		gap = 1
	}
	var line []byte
	for i, s := range samples {
		left := first + float64(i)*slot
		if lat, ok := chartLatency(s); ok {
			y := plotBottom - lat/top*(plotBottom-plotTop)
			y = math.Min(math.Max(y, plotTop+dotRadius), plotBottom)
			x := left + slot/2
			d := ChartDot{X: px(x), Y: px(y), Class: "ok"}
			if !s.OK {
				d.Class = "bad"
			}
			c.Dots = append(c.Dots, d)
			if len(c.Dots) > 1 {
				line = append(line, ' ')
			}
			line = px(y).append(append(px(x).append(line), ','))
			continue
		}
		b := ChartBand{X: px(left + gap/2), W: px(slot - gap), Class: "bad"}
		switch {
		case s.OK:
			b.Class = "ok"
		case s.Outcome == probe.Error:
			b.Class = "err"
		}
		c.Bands = append(c.Bands, b)
	}
	if len(c.Dots) > 1 {
		c.Line = string(line)
	}
	c.Paths = chartPaths(c.Dots, c.Bands)
	c.Title = chartTitle(list, samples, delivered, failed, errs, maxLatency)
	return c
}

// chartTitle says in words what the chart draws: the counts, the slowest
// and newest latency, the time span.
func chartTitle(list string, samples []probe.Sample, delivered, failed, errs int, maxLatency float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Latency of the last %d %s of %s: %d delivered", len(samples), plural(len(samples), "probe", "probes"), list, delivered)
	if delivered > 0 {
		fmt.Fprintf(&b, " (slowest %s", formatLatency(maxLatency))
		for i := len(samples) - 1; i >= 0; i-- {
			if lat, ok := chartLatency(samples[i]); ok {
				fmt.Fprintf(&b, ", newest %s", formatLatency(lat))
				break
			}
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", %d failed", failed)
	if errs > 0 {
		fmt.Fprintf(&b, ", %d not observed", errs)
	}
	if other := len(samples) - delivered - failed - errs; other > 0 {
		fmt.Fprintf(&b, ", %d as expected without delivery", other)
	}
	fmt.Fprintf(&b, "; from %s to %s", samples[0].At.UTC().Format("2006-01-02 15:04 MST"), samples[len(samples)-1].At.UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

// chartPaths draws the bands, then the dots, one path per class, in a
// fixed order.
func chartPaths(dots []ChartDot, bands []ChartBand) []ChartPath {
	var paths []ChartPath
	for _, class := range []string{"ok", "err", "bad"} {
		var d []byte
		n := 0
		for _, b := range bands {
			if b.Class == class {
				d = append(b.X.append(append(d, 'M')), ',')
				d = append(px(plotTop).append(d), 'h')
				d = append(b.W.append(d), 'v')
				d = append(px(plotBottom-plotTop).append(d), "h-"...)
				d = append(b.W.append(d), 'Z')
				n++
			}
		}
		if n > 0 {
			paths = append(paths, ChartPath{Kind: "band", Class: class, D: string(d), N: n})
		}
	}
	for _, class := range []string{"ok", "bad"} {
		var d []byte
		n := 0
		for _, p := range dots {
			if p.Class == class {
				// A circle as two arcs, from its left edge.
				d = append((p.X - dotRadius).append(append(d, 'M')), ',')
				d = append(p.Y.append(d), dotArcs...)
				n++
			}
		}
		if n > 0 {
			paths = append(paths, ChartPath{Kind: "dot", Class: class, D: string(d), N: n})
		}
	}
	return paths
}

var dotArcs = fmt.Sprintf("a%g,%g 0 1,0 %g,0a%g,%g 0 1,0 -%g,0Z", dotRadius, dotRadius, 2*dotRadius, dotRadius, dotRadius, 2*dotRadius)

// chartLatency returns a delivered sample's latency, clamped to the chart's
// scale; ok is false when the sample has no usable latency.
func chartLatency(s probe.Sample) (float64, bool) {
	if s.Outcome != probe.Delivered || math.IsNaN(s.Latency) || math.IsInf(s.Latency, 0) {
		return 0, false
	}
	return math.Min(math.Max(s.Latency, 0), maxChartSeconds), true
}

// niceCeil is the smallest of 1, 2 or 5 times a power of ten that is at
// least v, and at least 10 ms, so that the scale's label stays short.
func niceCeil(v float64) float64 {
	if !(v > 0.01) {
		return 0.01
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// formatSeconds writes a scale value: "20 ms", "2 s", "5 min", "3 h", "12 d".
func formatSeconds(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case v < 120:
		return fmt.Sprintf("%g s", v)
	case v < 2*3600:
		return fmt.Sprintf("%.0f min", v/60)
	case v < 2*86400:
		return fmt.Sprintf("%.0f h", v/3600)
	default:
		return fmt.Sprintf("%.0f d", v/86400)
	}
}

// formatLatency writes a measured latency as the page's latency column does.
func formatLatency(v float64) string { return fmt.Sprintf("%.3f s", v) }

// chartTime writes when a probe finished, with the date only when the
// chart spans more than one day.
func chartTime(t, other time.Time) string {
	t, other = t.UTC(), other.UTC()
	if t.YearDay() != other.YearDay() || t.Year() != other.Year() {
		return t.Format("Jan 2 15:04")
	}
	return t.Format("15:04 MST")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
