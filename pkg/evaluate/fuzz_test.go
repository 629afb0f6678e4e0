package evaluate

import (
	"strings"
	"testing"
)

// FuzzReadFindings: any findings file is read without panic and scores without panic.
func FuzzReadFindings(f *testing.F) {
	f.Add(`{"id":"a","ts":"2026-01-05T03:00:30Z","principal":"u-1","severity":"high"}`)
	f.Add(`{"ts":"2026-01-05T03:21:00Z","severity":"critical","related_ips":["198.51.100.3"]}` + "\nnot json\n")
	f.Add(`{"ts":"0001-01-01T00:00:00Z","severity":"bogus"}`)
	f.Fuzz(func(t *testing.T, in string) {
		fs, bad, err := ReadFindings(strings.NewReader(in))
		if err != nil {
			return
		}
		if bad < 0 || len(fs) > strings.Count(in, "\n")+1 {
			t.Fatalf("ReadFindings = %d findings, %d bad from %d lines", len(fs), bad, strings.Count(in, "\n")+1)
		}
		r := Score(labels(), fs, Options{})
		if r.Recall < 0 || r.Recall > 1 || r.Precision < 0 || r.Precision > 1 {
			t.Fatalf("ratios out of range: %+v", r)
		}
	})
}
