package zal

import (
	"bytes"
	"encoding/xml"
	"unicode/utf8"
)

// scanTree is the fast path of parseTree. encoding/xml reads byte by byte through
// an interface and allocates per token, which made a 10,000-provider ZAL take
// 400+ ms (issue 16). scanTree walks the bytes directly, but it only accepts the
// plain subset of XML that MedMij's lists are written in: an optional XML
// declaration, elements with ASCII names, attributes on the root only, comments
// between elements, and text without entity or character references, carriage
// returns or "]]>". On anything else (including every error) it returns ok=false
// and parseTree runs walkTree, so what is accepted, the tree it yields and every
// refusal and its message stay exactly those of the encoding/xml path; the fuzz
// target FuzzScanTree checks that both produce the same tree.
func scanTree(data []byte) (root *node, ns string, ok bool) {
	s := scanner{data: data, line: 1, names: map[string]string{}, texts: map[string]string{}}
	if !s.declaration() {
		return nil, "", false
	}
	for s.pos < len(s.data) {
		var ok bool
		if s.data[s.pos] == '<' {
			ok = s.markup()
		} else {
			ok = s.text()
		}
		if !ok {
			return nil, "", false
		}
	}
	if len(s.stack) > 0 || s.root == nil {
		return nil, "", false
	}
	return s.root, s.ns, true
}

// scanner holds the state of scanTree. Nodes come from slabs and children lists
// from one arena, so a list of any size costs a handful of allocations for its
// tree; element names and short values are interned.
type scanner struct {
	data    []byte
	pos     int
	line    int
	stack   []*node
	root    *node
	ns      string
	seg     [2]int // the text of the top element while it has no children
	segs    int    // text runs seen for the top element while it has no children
	pending []*node
	starts  []int // per open element: where its children begin in pending
	slab    []node
	arena   []*node
	names   map[string]string
	recent  [64]string // cache of names, see internName
	texts   map[string]string
}

// declaration lets encoding/xml judge an XML declaration at the very start (it is
// a few bytes), so version and encoding are checked exactly as on the slow path.
func (s *scanner) declaration() bool {
	if !bytes.HasPrefix(s.data, []byte("<?xml")) {
		return true
	}
	end := bytes.Index(s.data, []byte("?>"))
	if end < 0 {
		return false
	}
	end += 2
	d := xml.NewDecoder(bytes.NewReader(s.data[:end]))
	d.Strict = true
	tok, err := d.RawToken()
	if pi, isPI := tok.(xml.ProcInst); err != nil || !isPI || pi.Target != "xml" {
		return false
	}
	if _, err := d.RawToken(); err == nil { // more than one token: not a plain declaration
		return false
	}
	s.line += bytes.Count(s.data[:end], []byte("\n"))
	s.pos = end
	return true
}

func (s *scanner) markup() bool {
	rest := s.data[s.pos:]
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		return s.comment()
	case len(rest) > 1 && rest[1] == '/':
		return s.endTag()
	}
	return s.startTag()
}

// comment skips <!-- ... -->; like encoding/xml it refuses "--" inside.
func (s *scanner) comment() bool {
	body := s.data[s.pos+4:]
	i := bytes.Index(body, []byte("--"))
	if i < 0 || i+2 >= len(body) || body[i+2] != '>' {
		return false
	}
	s.line += bytes.Count(body[:i], []byte("\n"))
	s.pos += 4 + i + 3
	return true
}

func (s *scanner) endTag() bool {
	s.pos += 2
	name, ok := s.name(false)
	if !ok || len(s.stack) == 0 {
		return false
	}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '>' {
		return false
	}
	s.pos++
	top := s.stack[len(s.stack)-1]
	if string(name) != top.name {
		return false
	}
	return s.close(top)
}

// close ends the top element: its text if it is a leaf, its children from the
// pending list, and the mixed-content rule (which is an error: slow path).
func (s *scanner) close(top *node) (ok bool) {
	top.endLine = s.line
	start := s.starts[len(s.starts)-1]
	s.starts = s.starts[:len(s.starts)-1]
	if kids := s.pending[start:]; len(kids) > 0 {
		if top.hasText {
			return false
		}
		top.kids = s.kidSlice(kids)
		s.pending = s.pending[:start]
	} else if s.segs == 1 {
		if top.text, ok = s.leafText(s.data[s.seg[0]:s.seg[1]]); !ok {
			return false
		}
	} else if s.segs > 1 {
		return false
	}
	s.segs = 0
	s.stack = s.stack[:len(s.stack)-1]
	return true
}

// kidSlice copies a finished element's children into the arena.
func (s *scanner) kidSlice(kids []*node) []*node {
	if len(s.arena)+len(kids) > cap(s.arena) {
		s.arena = make([]*node, 0, max(4096, len(kids)))
	}
	n := len(s.arena)
	s.arena = append(s.arena, kids...)
	return s.arena[n : n+len(kids) : n+len(kids)]
}

func (s *scanner) startTag() bool {
	s.pos++
	name, ok := s.name(false)
	if !ok || len(s.stack) >= maxDepth || (s.root != nil && len(s.stack) == 0) {
		return false
	}
	start := xml.StartElement{Name: xml.Name{Local: s.internName(name)}}
	empty, ok := s.attrs(&start)
	if !ok {
		return false
	}
	ns, err := checkAttrs(start, s.line, s.root == nil)
	if err != nil {
		return false
	}
	n := s.newNode()
	n.name, n.line = start.Name.Local, s.line
	if s.root == nil {
		s.root, s.ns = n, ns
	} else {
		s.segs = 0 // the parent's text is no longer kept (hasText has what matters)
		s.pending = append(s.pending, n)
	}
	s.stack = append(s.stack, n)
	s.starts = append(s.starts, len(s.pending))
	if empty {
		return s.close(n)
	}
	return true
}

func (s *scanner) newNode() *node {
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]node, 0, 4096)
	}
	s.slab = s.slab[:len(s.slab)+1]
	return &s.slab[len(s.slab)-1]
}

// attrs reads the attributes up to > or />. Only the root may carry any (the rest
// is an error for checkAttrs to word on the slow path).
func (s *scanner) attrs(start *xml.StartElement) (empty, ok bool) {
	for {
		sp := s.space()
		if s.pos >= len(s.data) {
			return false, false
		}
		switch s.data[s.pos] {
		case '>':
			s.pos++
			return false, true
		case '/':
			if s.pos+1 >= len(s.data) || s.data[s.pos+1] != '>' {
				return false, false
			}
			s.pos += 2
			return true, true
		}
		if !sp || s.root != nil {
			return false, false
		}
		a, ok := s.attr()
		if !ok {
			return false, false
		}
		start.Attr = append(start.Attr, a)
	}
}

func (s *scanner) attr() (xml.Attr, bool) {
	name, ok := s.name(true)
	if !ok || s.pos >= len(s.data) || s.data[s.pos] != '=' {
		return xml.Attr{}, false
	}
	s.pos++
	if s.pos >= len(s.data) || (s.data[s.pos] != '"' && s.data[s.pos] != '\'') {
		return xml.Attr{}, false
	}
	q := s.data[s.pos]
	s.pos++
	end := bytes.IndexByte(s.data[s.pos:], q)
	if end < 0 {
		return xml.Attr{}, false
	}
	val := s.data[s.pos : s.pos+end]
	if !plainText(val, false) {
		return xml.Attr{}, false
	}
	s.line += bytes.Count(val, []byte("\n"))
	s.pos += end + 1
	a := xml.Attr{Value: string(val)}
	if sp, local, found := bytes.Cut(name, []byte(":")); found {
		a.Name = xml.Name{Space: string(sp), Local: string(local)}
	} else {
		a.Name.Local = string(name)
	}
	return a, true
}

// name reads an ASCII XML name; with prefixed, one colon between two names.
// Anything else (non-ASCII names, other colons) goes to the slow path. The name
// must end where encoding/xml's would: at white space, /, >, = or the end.
func (s *scanner) name(prefixed bool) ([]byte, bool) {
	start, colon := s.pos, -1
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		first := s.pos == start || s.pos == colon+1
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case !first && ('0' <= c && c <= '9' || c == '.' || c == '-'):
		case c == ':' && prefixed && colon < 0 && !first:
			colon = s.pos
		default:
			if first || (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '/' && c != '>' && c != '=') {
				return nil, false
			}
			return s.data[start:s.pos], true
		}
		s.pos++
	}
	return nil, false
}

// space skips white space as encoding/xml does and reports whether there was any.
func (s *scanner) space() bool {
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case '\n':
			s.line++
		case ' ', '\t', '\r':
		default:
			return s.pos > start
		}
		s.pos++
	}
	return s.pos > start
}

// text reads one run of character data up to the next < (or the end).
func (s *scanner) text() bool {
	start := s.pos
	end := bytes.IndexByte(s.data[start:], '<')
	if end < 0 {
		end = len(s.data)
	} else {
		end += start
	}
	run := s.data[start:end]
	if !plainText(run, true) {
		return false
	}
	s.line += bytes.Count(run, []byte("\n"))
	s.pos = end
	nonSpace := len(bytes.TrimSpace(run)) != 0
	if len(s.stack) == 0 {
		return !nonSpace
	}
	top := s.stack[len(s.stack)-1]
	top.hasText = top.hasText || nonSpace
	if len(s.pending) == s.starts[len(s.starts)-1] { // no children yet
		s.seg = [2]int{start, end}
		s.segs++
	}
	return true
}

// plainText reports whether b is text encoding/xml would return unchanged, but
// for the five predefined entities when amp: valid UTF-8 of XML characters
// without <, \r (which it rewrites) or "]]>".
func plainText(b []byte, amp bool) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' || c == '&' && !amp || c == '<' ||
				c == '>' && i >= 2 && b[i-1] == ']' && b[i-2] == ']' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || !isXMLChar(r) {
			return false
		}
		i += size
	}
	return true
}

// leafText is the value of a leaf: interned when short, with the predefined
// entities (&amp; in an organisation name) replaced. Any other reference (numeric,
// undeclared) goes to the slow path.
func (s *scanner) leafText(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '&') < 0 {
		return s.intern(raw), true
	}
	out := make([]byte, 0, len(raw))
	for {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			return string(append(out, raw...)), true
		}
		out = append(out, raw[:i]...)
		raw = raw[i:]
		j := bytes.IndexByte(raw, ';')
		if j < 0 {
			return "", false
		}
		switch string(raw[1:j]) {
		case "amp":
			out = append(out, '&')
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			return "", false
		}
		raw = raw[j+1:]
	}
}

func isXMLChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// internName returns the one copy of an element name. A list uses a few dozen
// names, so a small direct-mapped cache in front of the map answers nearly all.
func (s *scanner) internName(b []byte) string {
	h := (len(b)*31 + int(b[0]) + int(b[len(b)-1])*7) & (len(s.recent) - 1)
	if n := s.recent[h]; n == string(b) {
		return n
	}
	n, ok := s.names[string(b)]
	if !ok {
		n = string(b)
		s.names[n] = n
	}
	s.recent[h] = n
	return n
}

// intern shares short values that repeat across providers (GegevensdienstId,
// Aanbiedertype, Systeemrolcode, InterfaceversieId) instead of one copy each.
func (s *scanner) intern(b []byte) string {
	if len(b) > 8 {
		return string(b)
	}
	if v, ok := s.texts[string(b)]; ok {
		return v
	}
	v := string(b)
	s.texts[v] = v
	return v
}
