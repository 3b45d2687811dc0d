package export

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// pdfaProblems runs the structural PDF/A checks that are available here (see
// DESIGN "PDF/A checks available here") and returns every violation found.
func pdfaProblems(t *testing.T, pdf []byte, part int) []string {
	t.Helper()
	var probs []string
	add := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }

	// Header and binary comment (ISO 19005-2 §6.1.2).
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.")) {
		add("header is %q", pdf[:min(len(pdf), 8)])
	}
	if nl := bytes.IndexByte(pdf, '\n'); nl < 0 || len(pdf) < nl+6 || pdf[nl+1] != '%' ||
		pdf[nl+2] < 128 || pdf[nl+3] < 128 || pdf[nl+4] < 128 || pdf[nl+5] < 128 {
		add("no binary comment line after the header")
	}

	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	ctx, err := api.ReadContext(bytes.NewReader(pdf), conf)
	if err != nil {
		return append(probs, "pdfcpu read: "+err.Error())
	}
	if err := api.ValidateContext(ctx); err != nil {
		add("pdfcpu validate (strict): %v", err)
	}
	if ctx.Encrypt != nil {
		add("file is encrypted")
	}
	if len(ctx.XRefTable.ID) != 2 {
		add("trailer has no document ID")
	}
	probs = append(probs, objectProblems(ctx)...)
	probs = append(probs, catalogProblems(ctx, part)...)
	return probs
}

// objectProblems walks every object for what PDF/A level B forbids: JavaScript and
// actions (§6.6), LZW (§6.1.7), transparency (part 1 §6.4; we keep part 2 free of it too).
func objectProblems(ctx *model.Context) []string {
	var probs []string
	for nr, e := range ctx.XRefTable.Table {
		if e == nil || e.Free || e.Object == nil {
			continue
		}
		var d types.Dict
		switch o := e.Object.(type) {
		case types.Dict:
			d = o
		case types.StreamDict:
			d = o.Dict
		default:
			continue
		}
		for _, k := range []string{"JS", "JavaScript", "OpenAction", "AA", "SMask", "Encrypt"} {
			if v, ok := d.Find(k); ok && !(k == "SMask" && v.String() == "None") {
				probs = append(probs, fmt.Sprintf("object %d has /%s", nr, k))
			}
		}
		for _, k := range []string{"CA", "ca"} {
			if v, ok := d.Find(k); ok && v.String() != "1" && v.String() != "1.00" {
				probs = append(probs, fmt.Sprintf("object %d has /%s %s (transparency)", nr, k, v))
			}
		}
		if g := d.DictEntry("Group"); g != nil && g.NameEntry("S") != nil && *g.NameEntry("S") == "Transparency" {
			probs = append(probs, fmt.Sprintf("object %d has a transparency group", nr))
		}
		if f, ok := d.Find("Filter"); ok && strings.Contains(f.String(), "LZW") {
			probs = append(probs, fmt.Sprintf("object %d uses LZW", nr))
		}
	}
	return probs
}

var subsetTag = regexp.MustCompile(`^[A-Z]{6}\+\S+$`)

var xmpField = regexp.MustCompile(`<(pdfaid:part|pdfaid:conformance|xmp:CreateDate|xmp:ModifyDate|xmp:CreatorTool|pdf:Producer)>([^<]*)<`)

// catalogProblems checks the XMP packet, the OutputIntent and Info = XMP.
func catalogProblems(ctx *model.Context, part int) []string {
	var probs []string
	add := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	root, err := ctx.Catalog()
	if err != nil {
		return []string{"no catalog"}
	}
	sd, _, err := ctx.DereferenceStreamDict(*root.IndirectRefEntry("Metadata"))
	if err != nil || sd == nil {
		return append(probs, "no /Metadata stream")
	}
	if _, ok := sd.Find("Filter"); ok {
		add("XMP stream is filtered")
	}
	xmp := map[string]string{}
	for _, m := range xmpField.FindAllStringSubmatch(string(append(sd.Raw, sd.Content...)), -1) {
		xmp[m[1]] = m[2]
	}
	if xmp["pdfaid:part"] != fmt.Sprint(part) || xmp["pdfaid:conformance"] != "B" {
		add("XMP pdfaid part %q conformance %q, want %d B", xmp["pdfaid:part"], xmp["pdfaid:conformance"], part)
	}

	ois := root.ArrayEntry("OutputIntents")
	if len(ois) != 1 {
		add("want 1 OutputIntent, have %d", len(ois))
	} else if oi, _ := ctx.DereferenceDict(ois[0]); oi == nil || oi.NameEntry("S") == nil || *oi.NameEntry("S") != "GTS_PDFA1" {
		add("OutputIntent is not GTS_PDFA1")
	} else if icc, _, _ := ctx.DereferenceStreamDict(*oi.IndirectRefEntry("DestOutputProfile")); icc == nil || icc.IntEntry("N") == nil || *icc.IntEntry("N") != 3 {
		add("OutputIntent has no RGB DestOutputProfile")
	}

	info, _ := ctx.DereferenceDict(*ctx.Info)
	text := func(k string) string {
		o, ok := info.Find(k)
		if !ok {
			return "<missing>"
		}
		sl, ok := o.(types.StringLiteral)
		if !ok {
			return "<not a string>"
		}
		s, _ := types.StringLiteralToString(sl)
		return s
	}
	for _, c := range []struct{ info, xmp string }{
		{"CreationDate", "xmp:CreateDate"}, {"ModDate", "xmp:ModifyDate"}, {"Creator", "xmp:CreatorTool"}, {"Producer", "pdf:Producer"},
	} {
		iv, xv := text(c.info), xmp[c.xmp]
		if strings.HasSuffix(c.info, "Date") {
			it, ok := types.DateTime(iv, false)
			xt, err := time.Parse(time.RFC3339, xv)
			if !ok || err != nil || !it.Equal(xt) || !strings.ContainsAny(iv[2:], "+-Z") {
				add("Info %s %q does not match XMP %s %q", c.info, iv, c.xmp, xv)
			}
			continue
		}
		if iv != xv {
			add("Info %s %q does not match XMP %s %q", c.info, iv, c.xmp, xv)
		}
	}
	return probs
}

// toolProblems runs qpdf --check and pdffonts on the file.
func toolProblems(t *testing.T, path string) []string {
	t.Helper()
	var probs []string
	out, err := exec.Command("qpdf", "--check", path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("No syntax or stream encoding errors")) {
		probs = append(probs, fmt.Sprintf("qpdf --check: %v\n%s", err, out))
	}
	out, err = exec.Command("pdffonts", path).CombinedOutput()
	if err != nil {
		return append(probs, fmt.Sprintf("pdffonts: %v\n%s", err, out))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 {
		probs = append(probs, "pdffonts lists no fonts")
	}
	for _, l := range lines[min(2, len(lines)):] {
		f := strings.Fields(l)
		// name type [type...] encoding emb sub uni object ID: emb is the 5th field from the end.
		if len(f) < 7 || f[len(f)-5] != "yes" {
			probs = append(probs, "font not embedded: "+l)
		}
		// an embedded subset is named TAG+Name, TAG six upper-case letters (ISO 32000-1 §9.6.4)
		if len(f) < 7 || !subsetTag.MatchString(f[0]) || f[len(f)-4] != "yes" {
			probs = append(probs, "font subset without a subset tag: "+l)
		}
	}
	return probs
}

// writeTemp stores pdf in the test's temp dir.
func writeTemp(t *testing.T, name string, pdf []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pdfText is the pdftotext -raw output (content stream order) of the file.
func pdfText(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("pdftotext", "-raw", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}
