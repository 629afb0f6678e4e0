package store

import (
	"strings"
	"testing"
)

func TestApplySchemaTwice(t *testing.T) {
	st, srv := openTest(t)
	ctx := testCtx(t)
	for i := range 2 {
		if err := st.ApplySchema(ctx); err != nil {
			t.Fatalf("ApplySchema #%d: %v", i+1, err)
		}
		v, err := st.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != LatestVersion() {
			t.Fatalf("after ApplySchema #%d version = %d; want %d", i+1, v, LatestVersion())
		}
	}
	got := srv.Query(t, "SELECT name FROM system.tables WHERE database = '"+st.Database()+"' ORDER BY name")
	want := "api_calls\nclient_profiles\nendpoint_inventory\nendpoints\nendpoints_mv\nfindings\nschema_version\n"
	if got != want {
		t.Fatalf("tables = %q; want %q", got, want)
	}
	// Each migration is recorded once, even though ApplySchema ran twice.
	if got := srv.Query(t, "SELECT count() FROM "+st.Database()+".schema_version"); strings.TrimSpace(got) != "3" {
		t.Fatalf("schema_version rows = %s; want 3", got)
	}
}
