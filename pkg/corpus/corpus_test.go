package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindBesideRepository(t *testing.T) {
	t.Setenv(Env, "")
	d, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d) != "real-pcaps" || filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(d)))) == "" {
		t.Fatalf("Find() = %q; want .../shared/corpus/real-pcaps", d)
	}
	root, _ := filepath.Abs("../..")
	if want := filepath.Join(filepath.Dir(root), "shared", "corpus", "real-pcaps"); d != want {
		t.Fatalf("Find() = %q; want %q", d, want)
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST.tsv"), []byte("file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(Env, dir)
	if got := Dir(t); got != dir {
		t.Fatalf("Dir() = %q; want %q", got, dir)
	}
	if got := Path(t, "MANIFEST.tsv"); got != filepath.Join(dir, "MANIFEST.tsv") {
		t.Fatalf("Path() = %q", got)
	}
}
