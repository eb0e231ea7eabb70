package probe

import (
	"fmt"
	"math"
	"strings"
	"time"
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

func (p px) String() string { return fmt.Sprintf("%.1f", float64(p)) }

// Chart is a list's latency history laid out for the status page's inline
// SVG: the template draws it; every coordinate lies within Width×Height,
// whatever the samples hold.
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
	// Dots are the delivered probes, Bands the others.
	Dots  []ChartDot
	Bands []ChartBand
}

// ChartDot is a delivered probe at its latency.
type ChartDot struct {
	X, Y  px
	Class string // ok, or bad when delivered was not the expected outcome
	Label string
}

// ChartBand is a probe that was not delivered: a column of the plot's
// height.
type ChartBand struct {
	X, Y, W, H px
	Class      string // bad for a list failure, err when listprobe could not observe, ok when expected
	Label      string
}

// latencyChart lays out a list's samples (oldest first); at most the newest
// MaxSamples are drawn, evenly spaced, the newest at the right.
func latencyChart(list string, samples []Sample) Chart {
	if len(samples) > MaxSamples {
		samples = samples[len(samples)-MaxSamples:]
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
		} else if !s.OK && s.Outcome == Error {
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
	var line []string
	for i, s := range samples {
		left := first + float64(i)*slot
		when := s.At.UTC().Format("2006-01-02 15:04:05 MST")
		if lat, ok := chartLatency(s); ok {
			y := plotBottom - lat/top*(plotBottom-plotTop)
			y = math.Min(math.Max(y, plotTop), plotBottom)
			x := left + slot/2
			d := ChartDot{X: px(x), Y: px(y), Class: "ok", Label: fmt.Sprintf("%s: delivered in %s", when, formatLatency(lat))}
			if !s.OK {
				d.Class = "bad"
				d.Label += " (not the expected outcome)"
			}
			c.Dots = append(c.Dots, d)
			line = append(line, px(x).String()+","+px(y).String())
			continue
		}
		b := ChartBand{X: px(left + gap/2), Y: plotTop, W: px(slot - gap), H: plotBottom - plotTop, Label: fmt.Sprintf("%s: %s", when, s.Outcome)}
		switch {
		case s.OK:
			b.Class = "ok"
			b.Label += " (expected)"
		case s.Outcome == Error:
			b.Class = "err"
			b.Label += " (listprobe could not observe)"
		default:
			b.Class = "bad"
		}
		if s.Outcome == Delivered {
			b.Label += ", latency unknown"
		}
		c.Bands = append(c.Bands, b)
	}
	if len(line) > 1 {
		c.Line = strings.Join(line, " ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Latency of the last %d %s of %s: %d delivered", len(samples), plural(len(samples), "probe", "probes"), list, delivered)
	if delivered > 0 {
		fmt.Fprintf(&b, " (slowest %s)", formatLatency(maxLatency))
	}
	fmt.Fprintf(&b, ", %d failed", failed)
	if errs > 0 {
		fmt.Fprintf(&b, ", %d not observed", errs)
	}
	if other := len(samples) - delivered - failed - errs; other > 0 {
		fmt.Fprintf(&b, ", %d as expected without delivery", other)
	}
	c.Title = b.String()
	return c
}

// chartLatency returns a delivered sample's latency, clamped to the chart's
// scale; ok is false when the sample has no usable latency.
func chartLatency(s Sample) (float64, bool) {
	if s.Outcome != Delivered || math.IsNaN(s.Latency) || math.IsInf(s.Latency, 0) {
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

// formatSeconds writes a scale value: "20 ms", "2 s", "5 min".
func formatSeconds(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case v < 120:
		return fmt.Sprintf("%g s", v)
	default:
		return fmt.Sprintf("%.0f min", v/60)
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
