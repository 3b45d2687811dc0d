package zal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzScanTree checks that the fast scanner never accepts what encoding/xml's
// walker refuses and, when it accepts, builds the very same tree (names, lines,
// text, children) and namespace. Whatever it does not accept takes the walker.
func FuzzScanTree(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxListSize {
			return
		}
		fast, fastNS, ok := scanTree(data)
		if !ok {
			return
		}
		slow, slowNS, err := walkTree(data)
		if err != nil {
			t.Fatalf("scanner accepts what the walker refuses: %v", err)
		}
		if fastNS != slowNS {
			t.Fatalf("namespace %q, walker %q", fastNS, slowNS)
		}
		if a, b := dumpTree(fast), dumpTree(slow); a != b {
			t.Fatalf("trees differ\nscanner:\n%s\nwalker:\n%s", a, b)
		}
	})
}

// scanSeeds are small documents at the edges of the scanner's subset.
var scanSeeds = []string{
	`<r xmlns="x"><a>1</a><!-- c --><b/></r>`,
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r xmlns='x'\n  xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"x y\">\n<a>\n x </a></r>\n",
	`<r xmlns="x"><a>x<!--c-->y</a></r>`,
	`<r xmlns="x"><a>x<b/></a></r>`,
	`<r xmlns="x"><a>&amp;</a></r>`,
	"<r xmlns=\"x\"><a>\r\n</a></r>",
	`<r xmlns="x"><a>]]></a></r>`,
	`<r xmlns="x"></r ><r/>`,
	`<r xmlns="x"><a b="c"/></r>`,
	"<r xmlns=\"x\"><a>\u00a0</a><b>\xff</b></r>",
	`<?xml version="1.1"?><r xmlns="x"/>`,
}

// dumpTree writes a tree in a form that shows every field the parsers fill.
func dumpTree(n *node) string {
	var b strings.Builder
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		fmt.Fprintf(&b, "%s%s %d-%d %q %v\n", strings.Repeat(" ", depth), n.name, n.line, n.endLine, n.text, n.hasText)
		for _, k := range n.kids {
			walk(k, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// TestScanTreeTakesPublishedLists checks that the published fixtures take the fast
// path (the fuzz target checks it agrees with the walker), so the speed-up is
// not lost to a silent fallback.
func TestScanTreeTakesPublishedLists(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) < 5 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := scanTree(b); !ok {
			t.Errorf("%s: the scanner falls back to the walker", p)
		}
	}
}
