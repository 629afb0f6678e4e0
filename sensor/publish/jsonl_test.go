package publish

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apiscope/apiscope/models"
)

func TestJSONLWritesOneLinePerCall(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONL(&buf)
	calls := []models.APICall{
		{TS: time.Unix(1, 5).UTC(), SrcIP: "10.0.0.1", SrcPort: 1234, Method: "GET", URI: "/a", Status: 200},
		{TS: time.Unix(2, 0).UTC(), SrcIP: "10.0.0.2", SrcPort: 80, Method: "POST", URI: "/b?x=1", Status: 0},
	}
	for i := range calls {
		if err := j.Write(&calls[i]); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes before Close; want them buffered", buf.Len())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(calls) {
		t.Fatalf("got %d lines; want %d", len(lines), len(calls))
	}
	for i, l := range lines {
		var got models.APICall
		if err := models.UnmarshalAPICall([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got.URI != calls[i].URI || got.Status != calls[i].Status || !got.TS.Equal(calls[i].TS) {
			t.Errorf("line %d = %+v; want %+v", i, got, calls[i])
		}
	}
	if j.Written() != 2 {
		t.Errorf("Written() = %d; want 2", j.Written())
	}
}

func TestCreateJSONLFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "calls.jsonl")
	j, err := CreateJSONL(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Write(&models.APICall{Method: "GET", URI: "/"}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("\n")) || bytes.Count(b, []byte("\n")) != 1 {
		t.Errorf("file = %q; want one line", b)
	}
}

func TestCreateJSONLBadPath(t *testing.T) {
	if _, err := CreateJSONL(filepath.Join(t.TempDir(), "missing", "calls.jsonl")); err == nil {
		t.Error("CreateJSONL in a missing directory succeeded; want an error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestJSONLReportsWriteErrors(t *testing.T) {
	j := NewJSONL(failWriter{})
	_ = j.Write(&models.APICall{})
	if err := j.Close(); err == nil {
		t.Error("Close over a failing writer succeeded; want an error")
	}
}

func BenchmarkJSONLWrite(b *testing.B) {
	j := NewJSONL(discard{})
	c := &models.APICall{TS: time.Unix(1700000000, 123).UTC(), SrcIP: "10.1.2.3", SrcPort: 40000,
		DstIP: "10.9.9.9", DstPort: 8080, Method: "GET", Host: "api", URI: "/users/42?x=1",
		Path: "/users/42", Query: "x=1", Template: "/users/{id}", Status: 200, RespBytes: 120}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = j.Write(c)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
