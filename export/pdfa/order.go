package pdfa

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// canonicalOrder rewrites a PDF that has one classic cross-reference table (ISO
// 32000-1 §7.5.4) so that its objects appear in object-number order, and rebuilds
// the table. pdfcpu writes objects in the order it meets them while walking
// dictionaries, which are Go maps: the same document comes out with its objects
// in a different order on each run. Sorted, the same input gives the same bytes
// (apart from the document ID), which lets a test prove that nothing else varies.
func canonicalOrder(b []byte) ([]byte, error) {
	xrefAt, err := startXRef(b)
	if err != nil {
		return nil, err
	}
	tr := bytes.Index(b[xrefAt:], []byte("trailer"))
	sx := bytes.LastIndex(b, []byte("startxref"))
	if !bytes.HasPrefix(b[xrefAt:], []byte("xref")) || tr < 0 || sx < xrefAt+tr {
		return nil, errors.New("pdfa: output has no classic xref table")
	}
	entries, err := parseXRef(b[xrefAt+4 : xrefAt+tr])
	if err != nil {
		return nil, err
	}
	trailer := b[xrefAt+tr : sx]

	var used []xrefEntry
	for _, e := range entries {
		if e.inUse {
			used = append(used, e)
		}
	}
	if len(used) == 0 {
		return nil, errors.New("pdfa: xref table has no objects")
	}
	byOffset := slices.Clone(used)
	slices.SortFunc(byOffset, func(a, c xrefEntry) int { return a.off - c.off })
	chunks := map[int][]byte{}
	for i, e := range byOffset {
		end := xrefAt
		if i+1 < len(byOffset) {
			end = byOffset[i+1].off
		}
		if e.off < 0 || end > len(b) || e.off >= end || !bytes.HasPrefix(b[e.off:], []byte(strconv.Itoa(e.num)+" "+strconv.Itoa(e.gen)+" obj")) {
			return nil, fmt.Errorf("pdfa: xref entry for object %d does not point at it", e.num)
		}
		chunks[e.num] = b[e.off:end]
	}

	out := bytes.NewBuffer(make([]byte, 0, len(b)))
	out.Write(b[:byOffset[0].off]) // header and binary comment
	offsets := map[int]int{}
	for _, e := range used { // used is in object-number order
		offsets[e.num] = out.Len()
		out.Write(chunks[e.num])
	}
	newXRef := out.Len()
	writeXRef(out, entries, offsets)
	out.Write(trailer)
	fmt.Fprintf(out, "startxref\n%d\n%%%%EOF\n", newXRef)
	return out.Bytes(), nil
}

type xrefEntry struct {
	num, off, gen int
	inUse         bool
}

func startXRef(b []byte) (int, error) {
	i := bytes.LastIndex(b, []byte("startxref"))
	if i < 0 {
		return 0, errors.New("pdfa: no startxref")
	}
	f := bytes.Fields(b[i+len("startxref"):])
	if len(f) == 0 {
		return 0, errors.New("pdfa: startxref without offset")
	}
	n, err := strconv.Atoi(string(f[0]))
	if err != nil || n < 0 || n >= len(b) {
		return 0, fmt.Errorf("pdfa: bad startxref offset %q", f[0])
	}
	return n, nil
}

// parseXRef reads the subsections of a classic xref table (after the keyword).
func parseXRef(b []byte) ([]xrefEntry, error) {
	f := bytes.Fields(b)
	var out []xrefEntry
	for i := 0; i < len(f); {
		if i+1 >= len(f) {
			return nil, errors.New("pdfa: truncated xref subsection header")
		}
		start, err1 := strconv.Atoi(string(f[i]))
		count, err2 := strconv.Atoi(string(f[i+1]))
		if err1 != nil || err2 != nil || count < 0 || i+2+3*count > len(f) {
			return nil, errors.New("pdfa: bad xref subsection header")
		}
		i += 2
		for k := range count {
			off, err1 := strconv.Atoi(string(f[i]))
			gen, err2 := strconv.Atoi(string(f[i+1]))
			if err1 != nil || err2 != nil || (string(f[i+2]) != "n" && string(f[i+2]) != "f") {
				return nil, fmt.Errorf("pdfa: bad xref entry for object %d", start+k)
			}
			out = append(out, xrefEntry{num: start + k, off: off, gen: gen, inUse: string(f[i+2]) == "n"})
			i += 3
		}
	}
	slices.SortFunc(out, func(a, c xrefEntry) int { return a.num - c.num })
	return out, nil
}

// writeXRef writes one subsection covering objects 0..max with the new offsets;
// free entries form the linked list ISO 32000-1 §7.5.4 describes.
func writeXRef(out *bytes.Buffer, entries []xrefEntry, offsets map[int]int) {
	size := entries[len(entries)-1].num + 1
	gen := map[int]int{}
	var free []int
	for _, e := range entries {
		gen[e.num] = e.gen
	}
	for n := range size {
		if _, ok := offsets[n]; !ok {
			free = append(free, n)
		}
	}
	next := map[int]int{}
	for i, n := range free {
		next[n] = 0
		if i+1 < len(free) {
			next[n] = free[i+1]
		}
	}
	fmt.Fprintf(out, "xref\n0 %d\n", size)
	for n := range size {
		if off, ok := offsets[n]; ok {
			fmt.Fprintf(out, "%010d %05d n\r\n", off, gen[n])
			continue
		}
		g, ok := gen[n]
		if n == 0 || !ok {
			g = 65535
		}
		fmt.Fprintf(out, "%010d %05d f\r\n", next[n], g)
	}
}
