package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
	"github.com/apiscope/apiscope/pkg/store"
	"github.com/apiscope/apiscope/pkg/store/chtest"
)

// TestAnalyzerRetention: --retention-days drops old api_calls partitions at start and
// again at every interval, and keeps recent ones.
func TestAnalyzerRetention(t *testing.T) {
	srv := chtest.Start(t)
	db := chtest.UniqueDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, srv.DSN(db), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	write := func(ages ...int) {
		var calls []models.APICall
		for _, d := range ages {
			calls = append(calls, models.APICall{TS: now.AddDate(0, 0, -d), SrcIP: "10.0.0.1", Method: "GET", Host: "h", URI: "/", ClientID: "c"})
		}
		if err := st.WriteCalls(ctx, calls); err != nil {
			t.Fatal(err)
		}
	}
	days := func() string {
		out, err := srv.QueryIn(db, "SELECT groupArray(d) FROM (SELECT DISTINCT dateDiff('day', toDate(ts), today()) AS d FROM api_calls ORDER BY d)")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for days() != want {
			if time.Now().After(deadline) {
				t.Fatalf("api_calls holds days %s; want %s", days(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	write(0, 1, 40, 41)
	stop := startRetention(ctx, st, 30, 200*time.Millisecond, log)
	defer stop()
	waitFor("[0,1]") // at start
	write(50)
	waitFor("[0,1]") // at the next interval
	stop()
}
