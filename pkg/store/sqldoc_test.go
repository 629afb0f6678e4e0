package store

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apiscope/apiscope/pkg/store/chtest"
)

var update = flag.Bool("update", false, "rewrite the sample outputs in docs/SQL.md from a real run")

const sqlDoc = "../../docs/SQL.md"

// docQuery is one ```sql block of the cookbook and the ```text sample that follows it.
type docQuery struct {
	title  string // the nearest heading above
	sql    string
	sample []string // sample lines, nil when the doc has none yet
	// sqlEnd is the index of the line closing the sql block; sampleStart and sampleEnd
	// delimit the sample block (fences included), -1 when absent.
	sqlEnd, sampleStart, sampleEnd int
}

func parseSQLDoc(lines []string) []docQuery {
	var out []docQuery
	title := ""
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "## ") {
			title = strings.TrimPrefix(lines[i], "## ")
		}
		if lines[i] != "```sql" {
			continue
		}
		q := docQuery{title: title, sampleStart: -1, sampleEnd: -1}
		j := i + 1
		for ; j < len(lines) && lines[j] != "```"; j++ {
		}
		q.sql = strings.Join(lines[i+1:j], "\n")
		q.sqlEnd = j
		k := j + 1
		for k < len(lines) && strings.TrimSpace(lines[k]) == "" {
			k++
		}
		if k < len(lines) && lines[k] == "```text" {
			e := k + 1
			for ; e < len(lines) && lines[e] != "```"; e++ {
			}
			q.sampleStart, q.sampleEnd = k, e
			q.sample = lines[k+1 : e]
		}
		out = append(out, q)
		i = j
	}
	return out
}

// sampleColumns reads the column names from a PrettyCompact header line:
// ┌─day────────┬─rows─┐
func sampleColumns(sample []string) []string {
	if len(sample) == 0 {
		return nil
	}
	h := strings.TrimSpace(sample[0])
	h = strings.TrimSuffix(strings.TrimPrefix(h, "┌"), "┐")
	var cols []string
	for _, c := range strings.Split(h, "┬") {
		cols = append(cols, strings.Trim(c, "─ "))
	}
	return cols
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// maxSampleRows bounds a sample in the doc; the query may return more.
const maxSampleRows = 12

// TestSQLCookbook runs every query of docs/SQL.md against the fixture data and checks it
// returns rows with the columns its sample shows. With -update it rewrites the samples.
func TestSQLCookbook(t *testing.T) {
	lines, queries := loadSQLDoc(t)
	if len(queries) < 12 {
		t.Fatalf("docs/SQL.md has %d sql blocks; want at least 12", len(queries))
	}
	st, srv := openTest(t)
	ctx := testCtx(t)
	if err := st.ApplySchema(ctx); err != nil {
		t.Fatal(err)
	}
	fx := newFixture(fixtureBase())
	// A re-delivered slice of calls, as after a consumer restart: the queries count exactly.
	if err := st.WriteCalls(ctx, append(fx.calls, fx.calls[len(fx.calls)-50:]...)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := st.WriteFindings(ctx, fx.findings); err != nil {
			t.Fatal(err)
		}
		if err := st.WriteProfiles(ctx, fx.profiles); err != nil {
			t.Fatal(err)
		}
	}
	db := st.Database()
	samples := make([][]string, len(queries))
	for i, q := range queries {
		body := strings.TrimRight(strings.TrimSpace(q.sql), ";")
		names, rows, err := runDocQuery(srv, db, q)
		if err != nil {
			t.Errorf("query %d (%s) failed: %v", i+1, q.title, err)
			continue
		}
		if rows == 0 {
			t.Errorf("query %d (%s) returned no rows", i+1, q.title)
		}
		if *update {
			pretty, err := srv.QueryIn(db, body+"\nFORMAT PrettyCompactMonoBlock")
			if err != nil {
				t.Fatalf("query %d (%s): %v", i+1, q.title, err)
			}
			out := strings.Split(strings.TrimRight(ansi.ReplaceAllString(pretty, ""), "\n"), "\n")
			if n := len(out) - 2; n > maxSampleRows {
				more := n - maxSampleRows
				out = append(out[:1+maxSampleRows], out[len(out)-1])
				out = append(out, "… "+strconv.Itoa(more)+" more rows")
			}
			samples[i] = out
			continue
		}
		want := sampleColumns(q.sample)
		if want == nil {
			t.Errorf("query %d (%s) has no ```text sample after it; run go test ./pkg/store -run TestSQLCookbook -update", i+1, q.title)
			continue
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Errorf("query %d (%s) returns columns %v; its sample shows %v", i+1, q.title, names, want)
		}
	}
	if *update && !t.Failed() {
		writeSamples(t, lines, queries, samples)
	}
}

// runDocQuery runs one cookbook query in database db and returns its column names and
// row count.
func runDocQuery(srv *chtest.Server, db string, q docQuery) ([]string, int, error) {
	body := strings.TrimRight(strings.TrimSpace(q.sql), ";")
	tsv, err := srv.QueryIn(db, body+"\nFORMAT TSVWithNames")
	if err != nil {
		return nil, 0, err
	}
	rows := strings.Split(strings.TrimRight(tsv, "\n"), "\n")
	return strings.Split(rows[0], "\t"), len(rows) - 1, nil
}

// loadSQLDoc returns the cookbook's queries.
func loadSQLDoc(t *testing.T) ([]string, []docQuery) {
	t.Helper()
	raw, err := os.ReadFile(sqlDoc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	return lines, parseSQLDoc(lines)
}

func writeSamples(t *testing.T, lines []string, queries []docQuery, samples [][]string) {
	t.Helper()
	var out []string
	prev := 0
	for i, q := range queries {
		out = append(out, lines[prev:q.sqlEnd+1]...)
		out = append(out, "", "```text")
		out = append(out, samples[i]...)
		out = append(out, "```")
		prev = q.sqlEnd + 1
		if q.sampleEnd >= 0 {
			prev = q.sampleEnd + 1
		}
	}
	out = append(out, lines[prev:]...)
	path, _ := filepath.Abs(sqlDoc)
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %d samples in %s", len(samples), path)
}

func TestParseSQLDoc(t *testing.T) {
	doc := strings.Split("## One\n```sql\nSELECT 1 AS a\n```\n\n```text\n┌─a─┬─b_c─┐\n│ 1 │ 2 │\n└───┴─────┘\n```\n## Two\n```sql\nSELECT 2\n```\n", "\n")
	qs := parseSQLDoc(doc)
	if len(qs) != 2 {
		t.Fatalf("parsed %d queries; want 2", len(qs))
	}
	if qs[0].title != "One" || qs[0].sql != "SELECT 1 AS a" || strings.Join(sampleColumns(qs[0].sample), ",") != "a,b_c" {
		t.Fatalf("first query parsed as %+v", qs[0])
	}
	if qs[1].title != "Two" || qs[1].sample != nil || qs[1].sampleStart != -1 {
		t.Fatalf("second query parsed as %+v", qs[1])
	}
}
