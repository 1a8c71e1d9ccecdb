package readme

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// snippets returns the ```go blocks of a Markdown file, with the line each
// starts on.
func snippets(t *testing.T, path string) (blocks []string, lines []int) {
	t.Helper()
	f, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(f))
	var cur *strings.Builder
	start := 0
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```go":
			cur, start = new(strings.Builder), n+1
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks, lines = append(blocks, cur.String()), append(lines, start)
			cur = nil
		case cur != nil:
			cur.WriteString(l + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s: unterminated ```go block from line %d", path, start)
	}
	return blocks, lines
}

// TestSnippetsCompile builds each Go snippet of README.md as a program of
// its own against this checkout of the module: a snippet must be complete
// (package clause and imports), so that it compiles as shown.
func TestSnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks, lines := snippets(t, filepath.Join(root, "README.md"))
	if len(blocks) < 3 {
		t.Fatalf("README.md has %d Go snippets; expected the server, client and HTTP/2 ones", len(blocks))
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		if !strings.HasPrefix(b, "package main\n") {
			t.Errorf("README.md line %d: the snippet does not start with \"package main\": show it whole, imports included", lines[i])
			continue
		}
		dir := t.TempDir()
		gomod := "module readmesnippet\n\ngo 1.25.0\n\nrequire github.com/ws6455/ws6455 v0.0.0\n\nreplace github.com/ws6455/ws6455 => " + root + "\n"
		for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(b)} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// Modules come from the cache the module's own build filled
		// (go mod download); nothing is fetched.
		cmd := exec.Command("go", "vet", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README.md line %d: the snippet does not build:\n%s", lines[i], out)
		}
	}
}
