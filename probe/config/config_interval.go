package config

import (
	"math"
	"math/bits"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// never is the interval of a schedule that does not fire.
const never = time.Duration(math.MaxInt64)

// minInterval returns the shortest time between two runs of s, on the wall
// clock (a daylight saving change can shorten one gap by an hour; it is
// ignored). It is computed from the schedule's fields rather than by
// stepping through runs with Next, and remembered per distinct schedule,
// so that it is cheap to call for every one of 10,000 lists.
func minInterval(s cron.Schedule) time.Duration {
	switch s := s.(type) {
	case cron.ConstantDelaySchedule:
		return s.Delay
	case *cron.ConstantDelaySchedule:
		return s.Delay
	case *cron.SpecSchedule:
		key := *s
		if d, ok := specIntervals.Load(key); ok {
			return d.(time.Duration)
		}
		d := specInterval(s)
		specIntervals.Store(key, d)
		return d
	case nil:
		return never
	}
	return sampledInterval(s)
}

// specIntervals caches specInterval by schedule value: configs hold few
// distinct schedules, reloads bring the same ones back.
var specIntervals sync.Map // cron.SpecSchedule -> time.Duration

// specInterval is the shortest gap between two runs of s: between two run
// times within a day, or from the day's last run to the first run of the
// nearest following day that matches.
func specInterval(s *cron.SpecSchedule) time.Duration {
	first, prev := -1, -1
	best := never
	for h := range eachBit(s.Hour, 24) {
		for m := range eachBit(s.Minute, 60) {
			for sec := range eachBit(s.Second, 60) {
				t := h*3600 + m*60 + sec
				if prev >= 0 {
					best = min(best, time.Duration(t-prev)*time.Second)
				}
				if first < 0 {
					first = t
				}
				prev = t
			}
		}
	}
	if first < 0 {
		return never
	}
	gap := dayGap(s.Dom, s.Month, s.Dow)
	if gap == 0 {
		if best == never {
			return never // at most one run in dayGapYears: never, for a prober
		}
		return best
	}
	cross := time.Duration(gap*86400-prev+first) * time.Second
	return min(best, cross)
}

// eachBit yields the positions of the bits of mask below n.
func eachBit(mask uint64, n int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for x := mask & (1<<n - 1); x != 0; x &= x - 1 {
			if !yield(bits.TrailingZeros64(x)) {
				return
			}
		}
	}
}

// dayGapYears is how far dayGap looks: weekdays and dates line up the same
// way again every 28 years (between 1901 and 2099), so every pairing of a
// weekday with a date, 29 February included, occurs within it.
const dayGapYears = 28

type dayFields struct{ dom, month, dow uint64 }

var dayGaps sync.Map // dayFields -> int

// dayGap returns the fewest days between two consecutive days that match
// the day-of-month, month and weekday fields (with cron's rule: when both
// day fields are restricted, either may match), or 0 when fewer than two
// days match within dayGapYears. It depends on the day fields only, so
// that schedules that differ in the time of day share it.
func dayGap(dom, month, dow uint64) int {
	key := dayFields{dom, month, dow}
	if g, ok := dayGaps.Load(key); ok {
		return g.(int)
	}
	const starBit = 1 << 63
	either := dom&starBit == 0 && dow&starBit == 0
	// Walk the calendar from Monday 2024-01-01 on plain counters.
	year, mon, day, wd := 2024, 1, 1, 1
	best, last := 0, -1
	for i := 0; year < 2024+dayGapYears; i++ {
		if month&(1<<mon) != 0 {
			domOK, dowOK := dom&(1<<day) != 0, dow&(1<<wd) != 0
			if (either && (domOK || dowOK)) || (!either && domOK && dowOK) {
				if last >= 0 && (best == 0 || i-last < best) {
					best = i - last
				}
				last = i
				if best == 1 {
					break
				}
			}
		}
		wd = (wd + 1) % 7
		if day++; day > daysIn(year, mon) {
			day = 1
			if mon++; mon > 12 {
				mon = 1
				year++
			}
		}
	}
	dayGaps.Store(key, best)
	return best
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// sampledInterval steps through a schedule of an unknown kind.
func sampledInterval(s cron.Schedule) time.Duration {
	t := s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	best := never
	for range 600 {
		n := s.Next(t)
		if n.IsZero() || t.IsZero() {
			break
		}
		best = min(best, n.Sub(t))
		t = n
	}
	return best
}
