package identity

import "strings"

// maxCookiePairs bounds the pairs examined in one Cookie header.
const maxCookiePairs = 64

// FindCookie returns the value of the first cookie in header whose name matches one of
// names (compared case-insensitively), the matched name, and whether any malformed pair
// (no '=', empty name) was skipped on the way. Double quotes around a value are removed.
// It does not allocate and never panics.
func FindCookie(header string, names []string) (name, value string, malformed bool) {
	for n := 0; header != "" && n < maxCookiePairs; n++ {
		var pair string
		if i := strings.IndexByte(header, ';'); i >= 0 {
			pair, header = header[:i], header[i+1:]
		} else {
			pair, header = header, ""
		}
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			malformed = true
			continue
		}
		k := strings.TrimSpace(pair[:eq])
		v := strings.TrimSpace(pair[eq+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if k == "" {
			malformed = true
			continue
		}
		if v == "" {
			continue
		}
		for _, want := range names {
			if strings.EqualFold(k, want) {
				return want, v, malformed
			}
		}
	}
	return "", "", malformed
}
