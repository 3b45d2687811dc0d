package export

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pgo-koppelvlak/pgo/dossier"
)

func TestDutchDates(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1958-03-07", "07-03-1958"},
		{"1958-03", "03-1958"},
		{"1958", "1958"},
		{"", ""},
		{"7 maart 1958", "7 maart 1958"}, // not FHIR: shown as given
		{"1958-3-7", "1958-3-7"},
	}
	for _, tc := range tests {
		if got := dutchPartialDate(tc.in); got != tc.want {
			t.Errorf("dutchPartialDate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	times := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 23, 17, 26, 0, 0, time.UTC), "maandag 23 november 2026 om 18:26 uur"}, // CET, UTC+1
		{time.Date(2026, 7, 4, 22, 5, 0, 0, time.UTC), "zondag 5 juli 2026 om 00:05 uur"},          // CEST, UTC+2, next day
		{time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), "zondag 29 maart 2026 om 01:59 uur"},       // just before the DST switch
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "zondag 29 maart 2026 om 03:00 uur"},        // just after
	}
	for _, tc := range times {
		if got := dutchDateTime(tc.in); got != tc.want {
			t.Errorf("dutchDateTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := dutchDate(time.Date(2024, 12, 31, 23, 30, 0, 0, time.UTC)); got != "01-01-2025" {
		t.Errorf("dutchDate = %q, want the Amsterdam calendar date 01-01-2025", got)
	}
}

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 bytes"}, {1023, "1023 bytes"}, {1536, "1,5 KB"}, {5 << 20, "5,0 MB"}, {3 << 30, "3,0 GB"}} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestChunkKeepsEveryCharacter(t *testing.T) {
	long := strings.Repeat("woord ", 300) + strings.Repeat("x", 1500) + " é"
	for _, s := range []string{"", "kort", long, strings.Repeat("ë", 1300)} {
		parts := chunk(s, maxCellRunes)
		for _, p := range parts {
			if utf8.RuneCountInString(p) > maxCellRunes {
				t.Errorf("chunk of %d runes exceeds %d", utf8.RuneCountInString(p), maxCellRunes)
			}
		}
		if squash(strings.Join(parts, "")) != squash(s) {
			t.Errorf("chunk lost or changed text of a %d-rune string", utf8.RuneCountInString(s))
		}
	}
}

func TestColumnUnits(t *testing.T) {
	secs := []dossier.Section{
		{Columns: []string{"A"}},
		{Columns: []string{"Naam", "Toelichting"}, Items: []dossier.Item{{Cells: []string{"x", strings.Repeat("lang ", 40)}}}},
		{Columns: make([]string, maxColumns)},
	}
	for i, sec := range secs {
		u := columnUnits(sec)
		sum := 0
		for _, x := range u {
			sum += x
			if x < minColumnUnits {
				t.Errorf("section %d: column of %d units, below the minimum %d", i, x, minColumnUnits)
			}
		}
		if sum != gridUnits {
			t.Errorf("section %d: units %v sum to %d, want %d", i, u, sum, gridUnits)
		}
	}
	if u := columnUnits(secs[1]); u[1] <= u[0] {
		t.Errorf("long column got %d units, short %d: want the long one wider", u[1], u[0])
	}
}

func TestGlyphClean(t *testing.T) {
	g, err := loadGlyphs()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"Zoë Ødegård ïüéøßçñ Ł ő", "Zoë Ødegård ïüéøßçñ Ł ő"},
		{"regel1\nregel2\ttab\r", "regel1 regel2 tab "},
		{"中文", "[U+4E2D][U+6587]"},
		{"emoji 🙂", "emoji [U+1F642]"},
		{"nbsp\u00a0here", "nbsp here"},
	}
	for _, tc := range tests {
		if got := g.clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	word := strings.Repeat("W", 200)
	got := g.breakLongWords("kort "+word+" eind", sizeTable, 30)
	if squash(got) != squash("kort "+word+" eind") || strings.Count(got, " ") < 4 {
		t.Errorf("breakLongWords did not split a 200-letter word for a 30 mm column: %q", got)
	}
	for _, piece := range strings.Fields(got) {
		if w := g.widthEm(piece) * sizeTable * mmPerPt; w > 30 {
			t.Errorf("piece %q is %.1f mm wide, column is 30 mm", piece, w)
		}
	}
	if s := "kort en goed"; g.breakLongWords(s, sizeTable, 30) != s {
		t.Errorf("breakLongWords changed text that fits")
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{{"Zoë", 60, "Zoë"}, {strings.Repeat("é", 61), 60, strings.Repeat("é", 57) + "..."}, {strings.Repeat("a", 60), 60, strings.Repeat("a", 60)}} {
		if got := shorten(tc.in, tc.n); got != tc.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
