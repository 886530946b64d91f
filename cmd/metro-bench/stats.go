package main

import (
	"slices"
	"sort"
	"time"
)

// percentile returns the q-quantile (0..1) of sorted latencies by the
// nearest-rank method; zero for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// reasonCount is one failure reason and how often it occurred.
type reasonCount struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// sortedReasons lists failure reasons, most frequent first.
func sortedReasons(m map[string]int) []reasonCount {
	out := make([]reasonCount, 0, len(m))
	for r, n := range m {
		out = append(out, reasonCount{r, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// latencySummary sorts lat in place and returns p50, p90, p99 and max.
func latencySummary(lat []time.Duration) (p50, p90, p99, pmax time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	return percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99), lat[len(lat)-1]
}
