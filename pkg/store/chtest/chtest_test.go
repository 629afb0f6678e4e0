package chtest

import (
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

func TestStartQueryRestart(t *testing.T) {
	s := Start(t)
	if got := strings.TrimSpace(s.Query(t, "SELECT 1")); got != "1" {
		t.Fatalf("SELECT 1 = %q; want 1", got)
	}
	s.Query(t, "CREATE TABLE default.keep (x UInt8) ENGINE = MergeTree() ORDER BY x")
	s.Query(t, "INSERT INTO default.keep VALUES (7)")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("Running() after Stop = true; want false")
	}
	if _, err := s.QueryErr("SELECT 1"); err == nil {
		t.Fatal("query after Stop succeeded; want an error")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(s.Query(t, "SELECT x FROM default.keep")); got != "7" {
		t.Fatalf("after restart SELECT x = %q; want 7 (data dir kept)", got)
	}
}

func TestSharedAndUniqueDB(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared returned two servers")
	}
	n1, n2 := UniqueDB(t), UniqueDB(t)
	if n1 == n2 {
		t.Fatalf("UniqueDB returned %q twice", n1)
	}
	a.Query(t, "CREATE DATABASE "+n1)
}
