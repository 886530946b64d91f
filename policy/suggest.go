package policy

import "strings"

// suggest returns the known variable closest to an unknown METRO_ name, or
// "" if none is close: within a small edit distance, or the only known
// name ending in the unknown name's suffix (METRO_IKE_PORT ->
// METRO_ISAKMP_IKE_PORT).
func suggest(name string) string {
	best, bestD := "", 1<<30
	for i := range variables {
		if d := editDistance(name, variables[i].Name); d < bestD {
			best, bestD = variables[i].Name, d
		}
	}
	if bestD <= max(2, len(name)/7) {
		return best
	}
	tail := strings.TrimPrefix(name, VarPrefix)
	if tail == "" {
		return ""
	}
	match := ""
	for i := range variables {
		if strings.HasSuffix(variables[i].Name, "_"+tail) {
			if match != "" {
				return ""
			}
			match = variables[i].Name
		}
	}
	return match
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
