package export

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/johnfercher/maroto/v2/pkg/consts/fontstyle"
	"github.com/johnfercher/maroto/v2/pkg/core/entity"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// fontFamily is the embedded default font. The Go fonts (Bigelow & Holmes, BSD
// licence) are embedded in the binary by golang.org/x/image, so the PDF carries no
// font with licence restrictions (PGO-koppelvlak NFR050) and needs no font files.
const fontFamily = "go"

// mmPerPt converts typographic points to millimetres (maroto's unit).
const mmPerPt = 25.4 / 72

// glyphs answers which characters the embedded font can show and how wide a word
// is. PDF/A forbids references to the .notdef glyph (ISO 19005-2 §6.2.11.8), so a
// character the font lacks is written as its code point ("[U+4E2D]") instead of a
// blank box: nothing of the patient's data disappears silently.
type glyphs struct {
	f    *sfnt.Font
	upem float64
	mu   sync.Mutex
	buf  sfnt.Buffer
	has  map[rune]bool
	adv  map[rune]float64 // advance in em
}

var (
	glyphOnce sync.Once
	glyphSet  *glyphs
	glyphErr  error
)

func loadGlyphs() (*glyphs, error) {
	glyphOnce.Do(func() {
		f, err := sfnt.Parse(goregular.TTF)
		if err != nil {
			glyphErr = fmt.Errorf("export: parse Go Regular: %w", err)
			return
		}
		glyphSet = &glyphs{f: f, upem: float64(f.UnitsPerEm()), has: map[rune]bool{}, adv: map[rune]float64{}}
	})
	return glyphSet, glyphErr
}

// customFonts registers Go Regular and Go Bold with maroto as UTF-8 TrueType
// fonts, which gofpdf embeds as subsets with a ToUnicode map (text stays
// extractable, ISO 19005-2 §6.2.11.7).
func customFonts() []*entity.CustomFont {
	return []*entity.CustomFont{
		{Family: fontFamily, Style: fontstyle.Normal, Bytes: goregular.TTF},
		{Family: fontFamily, Style: fontstyle.Bold, Bytes: gobold.TTF},
	}
}

// lookup returns whether the font has r and its advance in em. Callers hold g.mu.
func (g *glyphs) lookup(r rune) (bool, float64) {
	if ok, seen := g.has[r]; seen {
		return ok, g.adv[r]
	}
	idx, err := g.f.GlyphIndex(&g.buf, r)
	ok := err == nil && idx != 0
	var a float64
	if ok {
		adv, err := g.f.GlyphAdvance(&g.buf, idx, fixed.I(int(g.upem)), font.HintingNone)
		if err == nil {
			a = float64(adv) / 64 / g.upem
		}
	}
	g.has[r], g.adv[r] = ok, a
	return ok, a
}

// clean makes s printable with the embedded font: control characters (line breaks,
// tabs) become spaces, because maroto wraps on spaces only; characters the font
// lacks become "[U+XXXX]".
func (g *glyphs) clean(s string) string {
	if isPlainASCII(s) {
		return s
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case r < 0x80:
			b.WriteRune(r)
		default:
			if ok, _ := g.lookup(r); ok {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, "[U+%04X]", r)
			}
		}
	}
	return b.String()
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// breakLongWords splits every word wider than width (mm, at size pt) into pieces
// separated by spaces. maroto's wrapping breaks lines only at spaces, so a long
// code or URL would otherwise run across the neighbouring column.
func (g *glyphs) breakLongWords(s string, size, width float64) string {
	em := size * mmPerPt
	maxEm := width / em
	if float64(utf8.RuneCountInString(s)) <= maxEm { // no glyph is wider than 1 em
		return s
	}
	words := strings.Split(s, " ")
	changed := false
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, w := range words {
		if float64(utf8.RuneCountInString(w)) <= maxEm || g.widthEm(w) <= maxEm {
			continue
		}
		words[i] = g.split(w, maxEm)
		changed = true
	}
	if !changed {
		return s
	}
	return strings.Join(words, " ")
}

func (g *glyphs) widthEm(w string) float64 {
	var sum float64
	for _, r := range w {
		_, a := g.lookup(r)
		sum += a
	}
	return sum
}

func (g *glyphs) split(w string, maxEm float64) string {
	var b strings.Builder
	var line float64
	for _, r := range w {
		_, a := g.lookup(r)
		if line+a > maxEm && line > 0 {
			b.WriteByte(' ')
			line = 0
		}
		b.WriteRune(r)
		line += a
	}
	return b.String()
}
