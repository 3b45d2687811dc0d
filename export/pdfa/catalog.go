package pdfa

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// forbiddenCatalogKeys are catalog entries that would bring actions or JavaScript
// into the file (ISO 19005-2 §6.6.1, §6.6.2); gofpdf never writes them, and we refuse
// input that has them instead of silently dropping content.
var forbiddenCatalogKeys = []string{"OpenAction", "AA", "AcroForm", "Names"}

// addCatalogEntries adds the XMP /Metadata stream, the sRGB /OutputIntents and /Lang
// to the document catalog.
func addCatalogEntries(ctx *model.Context, m Meta, lvl Level, producer string) error {
	root, err := ctx.Catalog()
	if err != nil {
		return fmt.Errorf("pdfa: catalog: %w", err)
	}
	for _, k := range forbiddenCatalogKeys {
		if _, ok := root.Find(k); ok {
			return fmt.Errorf("pdfa: input catalog has /%s, which PDF/A output must not carry", k)
		}
	}

	// The XMP packet stays unfiltered so that non-PDF-aware tools can find it
	// (ISO 19005-1 §6.7.2: the metadata stream shall not be filtered).
	xmp := types.StreamDict{Dict: types.NewDict(), Content: buildXMP(m, lvl.Part(), producer)}
	xmp.InsertName("Type", "Metadata")
	xmp.InsertName("Subtype", "XML")
	if err := xmp.Encode(); err != nil {
		return fmt.Errorf("pdfa: encode XMP: %w", err)
	}
	xmpRef, err := ctx.IndRefForNewObject(xmp)
	if err != nil {
		return fmt.Errorf("pdfa: add XMP: %w", err)
	}
	root.Update("Metadata", *xmpRef)

	icc := flateStreamRaw(srgbICCFlate())
	icc.InsertInt("N", 3)
	iccRef, err := ctx.IndRefForNewObject(icc)
	if err != nil {
		return fmt.Errorf("pdfa: add ICC profile: %w", err)
	}
	// One OutputIntent with subtype GTS_PDFA1 (ISO 19005-1 §6.2.2, 19005-2 §6.2.3);
	// it makes DeviceRGB/DeviceGray colours, which gofpdf writes, device independent.
	oi := types.NewDict()
	oi.InsertName("Type", "OutputIntent")
	oi.InsertName("S", "GTS_PDFA1")
	oi.InsertString("OutputConditionIdentifier", sRGBCondition)
	oi.InsertString("Info", sRGBCondition)
	oi.InsertString("RegistryName", "http://www.color.org")
	oi.Insert("DestOutputProfile", *iccRef)
	root.Update("OutputIntents", types.Array{oi})

	lang, err := textString(m.lang())
	if err != nil {
		return err
	}
	root.Update("Lang", lang)
	return nil
}

// srgbICCFlate is the sRGB profile compressed, once per process and so at the
// best level: every document embeds the same bytes.
var srgbICCFlate = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression) // a valid level never fails
	_, _ = w.Write(srgbICC)                                 // a bytes.Buffer does not fail
	_ = w.Close()
	return buf.Bytes()
})

// setInfo replaces the Info dictionary entries gofpdf wrote with the ones the XMP
// packet mirrors. pdfcpu sets Producer, CreationDate and ModDate itself on write;
// patchInfoDates sets the dates to m.Created afterwards.
func setInfo(ctx *model.Context, m Meta) error {
	if ctx.Info == nil {
		ref, err := ctx.IndRefForNewObject(types.NewDict())
		if err != nil {
			return fmt.Errorf("pdfa: add Info: %w", err)
		}
		ctx.Info = ref
	}
	d, err := ctx.DereferenceDict(*ctx.Info)
	if err != nil || d == nil {
		return fmt.Errorf("pdfa: Info dictionary: %v", err)
	}
	for k := range d {
		d.Delete(k)
	}
	for _, e := range []struct{ k, v string }{
		{"Title", m.Title}, {"Author", m.Author}, {"Subject", m.Subject}, {"Creator", m.Creator},
	} {
		s, err := textString(e.v)
		if err != nil {
			return err
		}
		d.Insert(e.k, s)
	}
	return nil
}

// textString encodes s as a PDF text string (ISO 32000-1 §7.9.2.2): PDFDocEncoding
// is only safe for ASCII, everything else goes as UTF-16BE with a byte order mark.
func textString(s string) (types.StringLiteral, error) {
	var esc *string
	var err error
	if isASCII(s) {
		esc, err = types.Escape(s)
	} else {
		esc, err = types.EscapedUTF16String(s)
	}
	if err != nil {
		return "", fmt.Errorf("pdfa: encode text string: %w", err)
	}
	return types.StringLiteral(*esc), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// patchInfoDates overwrites the CreationDate and ModDate values pdfcpu wrote (its
// own clock) with date, in place. Both forms have the same length, so no offset in
// the cross-reference table moves. It fails if either key is not found exactly once
// in uncompressed form: then the Info dictionary would not match the XMP.
func patchInfoDates(b []byte, date string) error {
	for _, key := range []string{"/CreationDate", "/ModDate"} {
		n := bytes.Count(b, []byte(key+"("))
		if n != 1 {
			return fmt.Errorf("pdfa: found %s %d times in the written file, want 1", key, n)
		}
		i := bytes.Index(b, []byte(key+"(")) + len(key) + 1
		j := bytes.IndexByte(b[i:], ')')
		if j < 0 || j != len(date) || !strings.HasPrefix(string(b[i:i+j]), "D:") {
			return fmt.Errorf("pdfa: %s value %q cannot be patched to %q", key, b[i:i+max(j, 0)], date)
		}
		copy(b[i:], date)
	}
	return nil
}
