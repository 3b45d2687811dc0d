package zal

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pgo-koppelvlak/pgo"
)

// MaxListSize is the largest list we accept (MedMij afsprakenstelsel, "Interfaces
// lijsten": receivers must protect themselves; the real ZAL is well below 1 MiB).
const MaxListSize = 16 << 20

// maxDepth bounds nesting; the deepest schema (ZAL release3) is 9 levels.
const maxDepth = 12

// node is one element of a parsed list: name, the line it starts on, its text (for
// leaves: an element that has children keeps none, only whether any of it was not
// white space, which is the mixed-content error) and its children in document order.
type node struct {
	name    string
	line    int
	endLine int
	text    string
	hasText bool // some text that is not white space
	kids    []*node
}

// listErr builds the precise, caller-safe error every validation failure returns:
// the line, the element and what is wrong.
func listErr(line int, elem, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if elem != "" {
		msg = fmt.Sprintf("<%s>: %s", elem, msg)
	}
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	return pgo.Errorf(pgo.EINVALID, "%s", msg)
}

// readLimited reads at most MaxListSize bytes and refuses anything larger.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxListSize+1))
	if err != nil {
		return nil, pgo.Wrap(pgo.EUNAVAILABLE, err, "reading the list failed")
	}
	if len(data) > MaxListSize {
		return nil, pgo.Errorf(pgo.ETOOLARGE, "list is larger than the limit of %d bytes", MaxListSize)
	}
	return data, nil
}

// parseTree walks the XML token by token and builds the element tree, refusing
// everything the MedMij lists never contain: a DTD (and so any entity definition:
// billion laughs, external entities), processing instructions other than the XML
// declaration, prefixed names, attributes other than the root's default namespace,
// text outside the root, more than one root, non-UTF-8 encodings. It returns the
// root and its namespace; the caller checks the namespace against the list's own.
func parseTree(data []byte) (*node, string, error) {
	if len(data) > MaxListSize {
		return nil, "", pgo.Errorf(pgo.ETOOLARGE, "list is larger than the limit of %d bytes", MaxListSize)
	}
	// A UTF-8 byte order mark may precede the declaration (XML 1.0 §4.3.3, F.1).
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if err := checkDeclaration(data); err != nil {
		return nil, "", err
	}
	if root, ns, ok := scanTree(data); ok {
		return root, ns, nil
	}
	return walkTree(data)
}

// walkTree is parseTree on encoding/xml's tokenizer: the reference for what the
// lists may contain, and the path that words every refusal.
func walkTree(data []byte) (*node, string, error) {
	w := &walker{d: xml.NewDecoder(bytes.NewReader(data))}
	w.d.Strict = true
	for {
		tok, err := w.d.RawToken()
		if err == io.EOF {
			return w.finish()
		}
		if err != nil {
			return nil, "", w.syntaxErr(err)
		}
		if err := w.token(tok); err != nil {
			return nil, "", err
		}
	}
}

type walker struct {
	d      *xml.Decoder
	buf    []byte // text of the top element while it has no children
	stack  []*node
	root   *node
	ns     string
	seen   bool // any token before: the XML declaration must come first
	closed bool // the root element has ended
}

func (w *walker) line() int { l, _ := w.d.InputPos(); return l }

func (w *walker) token(tok xml.Token) error {
	first := !w.seen
	w.seen = true
	switch t := tok.(type) {
	case xml.ProcInst:
		return w.procInst(t, first)
	case xml.Directive:
		return listErr(w.line(), "", "DTD or declaration <!%s> is not allowed (no DOCTYPE, no entities)", firstWord(t))
	case xml.Comment:
		return nil
	case xml.CharData:
		return w.charData(t)
	case xml.StartElement:
		return w.start(t)
	case xml.EndElement:
		return w.end(t)
	}
	return listErr(w.line(), "", "unexpected XML token %T", tok)
}

func (w *walker) procInst(t xml.ProcInst, first bool) error {
	if t.Target != "xml" {
		return listErr(w.line(), "", "processing instruction <?%s?> is not allowed", t.Target)
	}
	if !first {
		return listErr(w.line(), "", "XML declaration must be at the very start")
	}
	return nil
}

func (w *walker) charData(t xml.CharData) error {
	if len(w.stack) == 0 {
		if len(bytes.TrimSpace(t)) != 0 {
			return listErr(w.line(), "", "text outside the root element")
		}
		return nil
	}
	top := w.stack[len(w.stack)-1]
	top.hasText = top.hasText || len(bytes.TrimSpace(t)) != 0
	if len(top.kids) == 0 {
		w.buf = append(w.buf, t...)
	}
	return nil
}

func (w *walker) start(t xml.StartElement) error {
	line := w.line()
	if t.Name.Space != "" {
		return listErr(line, t.Name.Space+":"+t.Name.Local, "prefixed element names are not allowed (one default namespace)")
	}
	if w.closed || (w.root != nil && len(w.stack) == 0) {
		return listErr(line, t.Name.Local, "a second root element is not allowed")
	}
	if len(w.stack) >= maxDepth {
		return listErr(line, t.Name.Local, "nested deeper than %d levels", maxDepth)
	}
	ns, err := checkAttrs(t, line, w.root == nil)
	if err != nil {
		return err
	}
	n := &node{name: t.Name.Local, line: line}
	if len(w.stack) == 0 {
		w.root, w.ns = n, ns
	} else {
		w.stack[len(w.stack)-1].kids = append(w.stack[len(w.stack)-1].kids, n)
	}
	w.buf = w.buf[:0] // the parent's text, if any, is only white space or an error
	w.stack = append(w.stack, n)
	return nil
}

// xsiNS is the XML Schema instance namespace (XML Schema Part 1, §2.6). Published
// MedMij lists bind it on the root to point at their XSD with xsi:schemaLocation.
const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

// checkAttrs allows, on the root only, the default namespace (which it returns)
// plus what published lists carry: xmlns:xsi bound to the XML Schema instance
// namespace and xsi:schemaLocation (namespace/location pairs, XML Schema Part 1
// §4.3.2). Nothing else, anywhere.
func checkAttrs(t xml.StartElement, line int, isRoot bool) (ns string, err error) {
	xsiBound, schemaLoc := false, false
	for _, a := range t.Attr {
		switch {
		case isRoot && a.Name.Space == "" && a.Name.Local == "xmlns":
			ns = a.Value
		case isRoot && a.Name.Space == "xmlns" && a.Name.Local == "xsi":
			if a.Value != xsiNS {
				return "", listErr(line, t.Name.Local, "prefix xsi must be bound to %s, not %q", xsiNS, a.Value)
			}
			xsiBound = true
		case a.Name.Space == "xmlns":
			return "", listErr(line, t.Name.Local, "namespace prefix declaration xmlns:%s is not allowed (one default namespace)", a.Name.Local)
		case isRoot && a.Name.Space == "xsi" && a.Name.Local == "schemaLocation":
			if err := checkSchemaLocation(a.Value); err != nil {
				return "", listErr(line, t.Name.Local, "xsi:schemaLocation: %v", err)
			}
			schemaLoc = true
		default:
			name := a.Name.Local
			if a.Name.Space != "" {
				name = a.Name.Space + ":" + name
			}
			return "", listErr(line, t.Name.Local, "attribute %q is not allowed", name)
		}
	}
	if schemaLoc && !xsiBound {
		return "", listErr(line, t.Name.Local, "xsi:schemaLocation uses the prefix xsi without xmlns:xsi")
	}
	if isRoot && ns == "" {
		return "", listErr(line, t.Name.Local, "missing default namespace (xmlns)")
	}
	return ns, nil
}

// checkSchemaLocation wants what XML Schema Part 1 §4.3.2 defines: a non-empty list
// of namespace-name / schema-location pairs separated by white space.
func checkSchemaLocation(v string) error {
	f := strings.Fields(v)
	if len(f) == 0 || len(f)%2 != 0 {
		return errorf("%q is not a list of namespace and location pairs", v)
	}
	return nil
}

func (w *walker) end(t xml.EndElement) error {
	if len(w.stack) == 0 {
		return listErr(w.line(), t.Name.Local, "closing tag without opening tag")
	}
	top := w.stack[len(w.stack)-1]
	if t.Name.Space != "" || t.Name.Local != top.name {
		return listErr(w.line(), t.Name.Local, "closing tag does not match <%s> opened on line %d", top.name, top.line)
	}
	top.endLine = w.line()
	if len(top.kids) == 0 {
		top.text = string(w.buf)
		w.buf = w.buf[:0]
	}
	if len(top.kids) > 0 && top.hasText {
		return listErr(top.line, top.name, "mixed text and elements are not allowed")
	}
	w.stack = w.stack[:len(w.stack)-1]
	if len(w.stack) == 0 {
		w.closed = true
	}
	return nil
}

func (w *walker) finish() (*node, string, error) {
	if len(w.stack) > 0 {
		top := w.stack[len(w.stack)-1]
		return nil, "", listErr(w.line(), top.name, "file is truncated: element opened on line %d is not closed", top.line)
	}
	if w.root == nil {
		return nil, "", listErr(0, "", "no root element: the file is empty or not XML")
	}
	return w.root, w.ns, nil
}

// syntaxErr turns a decoder error into one that names the line and, when the file
// ends early, the element that is still open.
func (w *walker) syntaxErr(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if len(w.stack) > 0 && strings.Contains(se.Msg, "unexpected EOF") {
			top := w.stack[len(w.stack)-1]
			return listErr(se.Line, top.name, "file is truncated: element opened on line %d is not closed", top.line)
		}
		elem := ""
		if len(w.stack) > 0 {
			elem = w.stack[len(w.stack)-1].name
		}
		return listErr(se.Line, elem, "malformed XML: %s", se.Msg)
	}
	return listErr(w.line(), "", "malformed XML: %v", err)
}

// checkDeclaration refuses an XML declaration that names an encoding other than
// UTF-8 (the lists are UTF-8; the decoder would otherwise fail obscurely).
func checkDeclaration(data []byte) error {
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		return nil
	}
	end := bytes.Index(data, []byte("?>"))
	if end < 0 {
		return nil // the decoder reports the malformed declaration
	}
	decl := string(data[:end])
	i := strings.Index(decl, "encoding=")
	if i < 0 || len(decl) < i+len("encoding=")+2 {
		return nil
	}
	rest := decl[i+len("encoding="):]
	q := rest[:1]
	enc, _, _ := strings.Cut(rest[1:], q)
	if !strings.EqualFold(enc, "utf-8") {
		return listErr(1, "", "encoding %q is not allowed: lists are UTF-8", enc)
	}
	return nil
}

func firstWord(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	if len(f[0]) > 20 {
		return f[0][:20]
	}
	return f[0]
}
