package export

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// xrefFile reads the few objects the proof needs straight from a PDF with a
// classic cross-reference table (which export/pdfa always writes): the catalog,
// the page tree and each page's content stream, ISO 32000-1 §7.5.4 (xref
// table), §7.5.5 (trailer), §7.7.3 (page tree). Parsing the whole file with
// pdfcpu allocated an object graph for every font and resource and, on large
// dossiers, more than doubled the proof's cost.
type xrefFile struct {
	b   []byte
	off []int // object number -> byte offset; 0 when free or absent
}

var errXRef = errors.New("export: rendered PDF has no readable classic xref table")

func openXRef(b []byte) (*xrefFile, error) {
	sx := bytes.LastIndex(b, []byte("startxref"))
	if sx < 0 {
		return nil, errXRef
	}
	at, _, ok := readInt(b, sx+len("startxref"))
	if !ok || at <= 0 || at >= len(b) || !bytes.HasPrefix(b[at:], []byte("xref")) {
		return nil, errXRef
	}
	f := &xrefFile{b: b}
	i := at + 4
	for {
		first, j, ok := readInt(b, i)
		if !ok {
			break // "trailer"
		}
		count, j, ok := readInt(b, j)
		if !ok {
			return nil, errXRef
		}
		for k := 0; k < count; k++ {
			j = skipSpace(b, j)
			if j+18 > len(b) {
				return nil, errXRef
			}
			if b[j+17] == 'n' {
				off, err := strconv.Atoi(string(b[j : j+10]))
				if err != nil {
					return nil, errXRef
				}
				for len(f.off) <= first+k {
					f.off = append(f.off, 0)
				}
				f.off[first+k] = off
			}
			j += 18
		}
		i = j
	}
	return f, nil
}

// object returns the bytes of object n from "n 0 obj" to "endobj".
func (f *xrefFile) object(n int) ([]byte, error) {
	if n <= 0 || n >= len(f.off) || f.off[n] == 0 {
		return nil, fmt.Errorf("export: rendered PDF lacks object %d", n)
	}
	o := f.b[f.off[n]:]
	end := bytes.Index(o, []byte("endobj"))
	if end < 0 {
		return nil, fmt.Errorf("export: object %d has no end", n)
	}
	return o[:end], nil
}

// ref returns the object number of the indirect reference after key in obj.
func ref(obj []byte, key string) (int, bool) {
	i := keyAt(obj, key)
	if i < 0 {
		return 0, false
	}
	n, _, ok := readInt(obj, i)
	return n, ok
}

// keyAt returns the index just after the name key in obj (a name is followed by
// a delimiter, so "/Contents" does not match "/ContentsX"), or -1.
func keyAt(obj []byte, key string) int {
	for from := 0; ; {
		i := bytes.Index(obj[from:], []byte(key))
		if i < 0 {
			return -1
		}
		e := from + i + len(key)
		if e >= len(obj) || !regular[obj[e]] {
			return e
		}
		from = e
	}
}

// pages returns the content stream object numbers of the pages, in page order.
func (f *xrefFile) pages() ([]int, error) {
	tr := bytes.LastIndex(f.b, []byte("trailer"))
	if tr < 0 {
		return nil, errXRef
	}
	root, ok := ref(f.b[tr:], "/Root")
	if !ok {
		return nil, errXRef
	}
	cat, err := f.object(root)
	if err != nil {
		return nil, err
	}
	top, ok := ref(cat, "/Pages")
	if !ok {
		return nil, errors.New("export: rendered PDF: catalog without /Pages")
	}
	var out []int
	return out, f.walk(top, &out, 0)
}

func (f *xrefFile) walk(n int, out *[]int, depth int) error {
	if depth > 32 {
		return errors.New("export: rendered PDF: page tree too deep")
	}
	obj, err := f.object(n)
	if err != nil {
		return err
	}
	if k := keyAt(obj, "/Kids"); k >= 0 {
		j := bytes.IndexByte(obj[k:], '[')
		e := bytes.IndexByte(obj[k:], ']')
		if j < 0 || e < j {
			return fmt.Errorf("export: object %d: bad /Kids", n)
		}
		list := obj[k+j+1 : k+e]
		for i := 0; ; {
			kid, next, ok := readInt(list, i)
			if !ok {
				return nil
			}
			_, next, _ = readInt(list, next) // generation
			next = skipSpace(list, next)
			if next < len(list) && list[next] == 'R' {
				next++
			}
			if err := f.walk(kid, out, depth+1); err != nil {
				return err
			}
			i = next
		}
	}
	c, ok := ref(obj, "/Contents")
	if !ok {
		*out = append(*out, 0) // a page without content
		return nil
	}
	*out = append(*out, c)
	return nil
}

// stream returns the encoded data of stream object n and whether it is
// FlateDecode-filtered without parameters (anything else is not what gofpdf writes).
func (f *xrefFile) stream(n int) ([]byte, bool, error) {
	if n <= 0 || n >= len(f.off) || f.off[n] == 0 {
		return nil, false, fmt.Errorf("export: rendered PDF lacks object %d", n)
	}
	obj := f.b[f.off[n]:] // not cut at "endobj": compressed data may hold those bytes
	s := bytes.Index(obj[:min(len(obj), 1024)], []byte("stream"))
	if s < 0 {
		return nil, false, fmt.Errorf("export: object %d is not a stream", n)
	}
	dict := obj[:s]
	length, ok := directLength(dict)
	if !ok {
		return nil, false, fmt.Errorf("export: object %d: no direct /Length", n)
	}
	s += len("stream")
	if s < len(obj) && obj[s] == '\r' {
		s++
	}
	if s < len(obj) && obj[s] == '\n' {
		s++
	}
	if s+length > len(obj) {
		return nil, false, fmt.Errorf("export: object %d: stream runs past its object", n)
	}
	flate := keyAt(dict, "/FlateDecode") >= 0 && keyAt(dict, "/DecodeParms") < 0 && bytes.Count(dict, []byte("/Filter")) == 1 &&
		!bytes.Contains(dict, []byte("/Filter["))
	return obj[s : s+length], flate, nil
}

// directLength reads "/Length N" (not an indirect "N 0 R").
func directLength(dict []byte) (int, bool) {
	i := keyAt(dict, "/Length")
	if i < 0 {
		return 0, false
	}
	n, j, ok := readInt(dict, i)
	if !ok {
		return 0, false
	}
	if _, k, ok := readInt(dict, j); ok {
		if k = skipSpace(dict, k); k < len(dict) && dict[k] == 'R' {
			return 0, false
		}
	}
	return n, true
}

// readInt reads a non-negative integer after optional white space at i.
func readInt(b []byte, i int) (n, next int, ok bool) {
	i = skipSpace(b, i)
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == i || j-i > 12 {
		return 0, i, false
	}
	n, err := strconv.Atoi(string(b[i:j]))
	return n, j, err == nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t' || b[i] == '\f' || b[i] == 0) {
		i++
	}
	return i
}
