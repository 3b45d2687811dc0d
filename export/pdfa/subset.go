package pdfa

import (
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// tagSubsets names every embedded font subset as ISO 32000-1 §9.6.4 asks: the
// font's name prefixed with a tag of six upper-case letters and "+"
// ("KQXWZB+utf8go"), in the font dictionaries (BaseFont) and the font descriptor
// (FontName). gofpdf embeds only the glyphs a document uses but writes the plain
// name, so a reader cannot tell the font is incomplete. The tag is derived from
// the name and the embedded font program, so the same subset always gets the same
// tag and different subsets of one font get different ones.
func tagSubsets(ctx *model.Context) error {
	tags := map[string]string{}
	var descriptors, fonts []types.Dict
	// in object-number order: the table is a map, and the CIDSet objects added
	// below must get the same numbers on every run (the same input gives the same bytes)
	nums := make([]int, 0, len(ctx.XRefTable.Table))
	for nr := range ctx.XRefTable.Table {
		nums = append(nums, nr)
	}
	slices.Sort(nums)
	for _, nr := range nums {
		e := ctx.XRefTable.Table[nr]
		if e == nil || e.Free || e.Object == nil {
			continue
		}
		d, ok := e.Object.(types.Dict)
		if !ok {
			continue
		}
		switch t := d.Type(); {
		case t != nil && *t == "FontDescriptor":
			descriptors = append(descriptors, d)
		case t != nil && *t == "Font":
			fonts = append(fonts, d)
		}
	}
	for _, d := range descriptors {
		name := d.NameEntry("FontName")
		ref := d.IndirectRefEntry("FontFile2")
		if name == nil || ref == nil || hasTag(*name) {
			continue
		}
		sd, _, err := ctx.DereferenceStreamDict(*ref)
		if err != nil || sd == nil {
			return fmt.Errorf("pdfa: font program of %s: %v", *name, err)
		}
		h := sha256.New()
		h.Write([]byte(*name))
		h.Write(sd.Raw)
		sum := h.Sum(nil)
		tag := make([]byte, 6)
		for i := range tag {
			tag[i] = 'A' + sum[i]%26
		}
		tags[*name] = string(tag) + "+" + *name
		d.Update("FontName", types.Name(tags[*name]))
	}
	for _, d := range fonts {
		if name := d.NameEntry("BaseFont"); name != nil {
			if tagged, ok := tags[*name]; ok {
				d.Update("BaseFont", types.Name(tagged))
			}
		}
		if st := d.Subtype(); st != nil && *st == "CIDFontType2" {
			if err := addCIDSet(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
}

// addCIDSet gives a CIDFontType2 subset's descriptor the CIDSet stream that
// PDF/A-1 requires for every embedded CID font subset (ISO 19005-1 §6.3.5; part 2
// makes it optional but, when present, complete): one bit per CID, high bit
// first, set for CID 0 and every CID the CIDToGIDMap maps to a glyph (gofpdf's
// CIDs are Unicode code points and its map names exactly the subset's glyphs).
func addCIDSet(ctx *model.Context, font types.Dict) error {
	mref, dref := font.IndirectRefEntry("CIDToGIDMap"), font.IndirectRefEntry("FontDescriptor")
	if mref == nil || dref == nil {
		return nil // Identity map or no descriptor: nothing gofpdf writes
	}
	desc, err := ctx.DereferenceDict(*dref)
	if err != nil || desc == nil {
		return fmt.Errorf("pdfa: font descriptor: %v", err)
	}
	if _, ok := desc.Find("CIDSet"); ok {
		return nil
	}
	sd, _, err := ctx.DereferenceStreamDict(*mref)
	if err != nil || sd == nil {
		return fmt.Errorf("pdfa: CIDToGIDMap: %v", err)
	}
	m := sd.Content
	if m == nil {
		if m, err = cidToGIDMap(sd); err != nil {
			return fmt.Errorf("pdfa: decode CIDToGIDMap: %w", err)
		}
	}
	set := make([]byte, (len(m)/2+7)/8)
	for cid := 0; 2*cid+1 < len(m); cid++ {
		if cid == 0 || m[2*cid] != 0 || m[2*cid+1] != 0 {
			set[cid/8] |= 0x80 >> (cid % 8)
		}
	}
	ref, err := ctx.IndRefForNewObject(flateStream(set))
	if err != nil {
		return fmt.Errorf("pdfa: add CIDSet: %w", err)
	}
	desc.Insert("CIDSet", *ref)
	return nil
}

// cidToGIDMap returns the map's bytes: inflated with a pooled decompressor when
// it is FlateDecode alone (as gofpdf writes it), else by pdfcpu's filters.
func cidToGIDMap(sd *types.StreamDict) ([]byte, error) {
	if len(sd.FilterPipeline) == 1 && sd.FilterPipeline[0].Name == "FlateDecode" && sd.FilterPipeline[0].DecodeParms == nil {
		return inflate(sd.Raw)
	}
	if err := sd.Decode(); err != nil {
		return nil, err
	}
	return sd.Content, nil
}

// hasTag reports whether a font name already starts with a subset tag.
func hasTag(name string) bool {
	if len(name) < 8 || name[6] != '+' {
		return false
	}
	for i := 0; i < 6; i++ {
		if name[i] < 'A' || name[i] > 'Z' {
			return false
		}
	}
	return true
}
