package store

import (
	"fmt"
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
	want := "analyzer_state\napi_calls\nclient_profiles\nendpoint_inventory\nendpoints\nendpoints_mv\nfindings\nschema_version\n"
	if got != want {
		t.Fatalf("tables = %q; want %q", got, want)
	}
	// Each migration is recorded once, even though ApplySchema ran twice.
	if got := srv.Query(t, "SELECT count() FROM "+st.Database()+".schema_version"); strings.TrimSpace(got) != fmt.Sprint(len(Migrations)) {
		t.Fatalf("schema_version rows = %s; want %d", got, len(Migrations))
	}
}

func TestMigrateFromVersion1(t *testing.T) {
	st, srv := openTest(t)
	ctx := testCtx(t)
	if err := st.applySchemaTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	db := st.Database()
	// A row written by a version-1 writer (no shadow, scope, iss, xff).
	srv.Query(t, "INSERT INTO "+db+".api_calls (ts, ts_nsec, client_id, method, host, uri, status) VALUES ('2026-01-01 00:00:00', 5, 'old-client', 'GET', 'h', '/v1', 200)")
	if v, _ := st.SchemaVersion(ctx); v != 1 {
		t.Fatalf("version after migrating to 1 = %d", v)
	}
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.SchemaVersion(ctx); v != LatestVersion() {
		t.Fatalf("version after ApplySchema = %d; want %d", v, LatestVersion())
	}
	cols := srv.Query(t, "SELECT groupArray(name) FROM (SELECT name FROM system.columns WHERE database = '"+db+"' AND table = 'api_calls' AND default_kind != 'ALIAS')")
	want := "['ts','ts_nsec','src_ip','src_port','dst_ip','dst_port','method','host','uri','path','query','template','status','req_bytes','resp_bytes','latency_ms','user_agent','content_type','client_id','principal','actor','auth','cred_fp','trace_id','partial','truncated','shadow','scope','iss','xff','dedup_key']\n"
	if cols != want {
		t.Fatalf("api_calls columns after migration:\n got %s\nwant %s", cols, want)
	}
	// The old row is still there, with defaults in the new columns, and new writes work.
	if got := srv.Query(t, "SELECT client_id, shadow, scope FROM "+db+".api_calls"); got != "old-client\t0\t\n" {
		t.Fatalf("old row after migration = %q", got)
	}
	if err := st.WriteCalls(ctx, newFixture(fixtureBase()).calls[:10]); err != nil {
		t.Fatalf("WriteCalls after migration: %v", err)
	}
	// Starting again migrates nothing.
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(srv.Query(t, "SELECT count() FROM "+db+".schema_version")); got != fmt.Sprint(len(Migrations)) {
		t.Fatalf("schema_version rows = %s; want %d", got, len(Migrations))
	}
}

func TestSchemaNewerThanBuild(t *testing.T) {
	st, srv := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Query(t, "INSERT INTO "+st.Database()+".schema_version (version, description) VALUES (99, 'future')")
	if err := st.ApplySchema(ctx); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("ApplySchema on a newer schema = %v; want an error saying it is newer", err)
	}
}

func TestApplySchemaConcurrently(t *testing.T) {
	st, srv := openTest(t)
	ctx := testCtx(t)
	// Several processes starting at once against an empty database.
	others := []*Store{st, openDSN(t, srv.DSN(st.Database()), Options{}), openDSN(t, srv.DSN(st.Database()), Options{})}
	errs := make(chan error, len(others))
	for _, o := range others {
		go func() { errs <- o.ApplySchema(ctx) }()
	}
	for range others {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent ApplySchema: %v", err)
		}
	}
	if v, err := st.SchemaVersion(ctx); err != nil || v != LatestVersion() {
		t.Fatalf("version after concurrent ApplySchema = %d, %v; want %d", v, err, LatestVersion())
	}
}
