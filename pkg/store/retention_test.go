package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

func TestApplyRetention(t *testing.T) {
	st, _ := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 10, 13, 0, 0, 0, time.UTC)
	var calls []models.APICall
	var profiles []ProfileRow
	for d := 0; d < 5; d++ { // May 10, 9, 8, 7, 6
		ts := now.AddDate(0, 0, -d).Add(-time.Hour)
		calls = append(calls, models.APICall{TS: ts, SrcIP: "10.0.0.1", Method: "GET", Host: "h", URI: "/", ClientID: "c"})
		profiles = append(profiles, ProfileRow{ClientID: "c", Version: uint64(10 - d), TS: ts})
	}
	if err := st.WriteCalls(ctx, calls); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteProfiles(ctx, profiles); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteFindings(ctx, []models.Finding{{ID: "old", TS: now.AddDate(0, 0, -30), Kind: models.KindRateSpike}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyRetentionAt(ctx, 0, now); err == nil {
		t.Fatal("ApplyRetentionAt(0 days) succeeded; want an error")
	}
	dropped, err := st.ApplyRetentionAt(ctx, 2, now) // keep May 8, 9, 10
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"api_calls/2026-05-06", "api_calls/2026-05-07", "client_profiles/2026-05-06", "client_profiles/2026-05-07"}
	if !reflect.DeepEqual(dropped, want) {
		t.Fatalf("dropped %v; want %v", dropped, want)
	}
	for _, q := range []struct {
		sql  string
		want string
	}{
		{"SELECT toString(min(toDate(ts))) FROM api_calls", "2026-05-08"},
		{"SELECT toString(count()) FROM api_calls", "3"},
		{"SELECT toString(count()) FROM client_profiles", "3"},
		{"SELECT toString(count()) FROM findings", "1"},
	} {
		var got string
		if err := st.Conn().QueryRow(ctx, q.sql).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != q.want {
			t.Errorf("%s = %s; want %s", q.sql, got, q.want)
		}
	}
	// Running it again drops nothing.
	if again, err := st.ApplyRetentionAt(ctx, 2, now); err != nil || len(again) != 0 {
		t.Fatalf("second ApplyRetentionAt = %v, %v; want nothing dropped", again, err)
	}
}
