package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/pgo-koppelvlak/pgo"
)

// Go's HTTP/2 server answers a request whose :path does not parse as a URI
// ("/%zz") with RST_STREAM PROTOCOL_ERROR before any handler runs; Chromium then
// shows ERR_HTTP2_PROTOCOL_ERROR instead of a page (issue 13). HTTP/1.1 gets a
// plain "400 Bad Request" from net/http. To give HTTP/2 clients our own 400 page,
// the connection is read through h2PathConn, which re-encodes every header block
// (RFC 9113 §4.3, RFC 7541) and replaces an unparsable :path by badPathMarker; the
// route there answers 400 with the reason.

// badPathMarker is the path an unparsable :path is replaced with.
const badPathMarker = "/.pgo/invalid-address"

// errBadPath is the answer at badPathMarker.
var errBadPath = pgo.NewError(pgo.EINVALID, "error.reason.bad_path",
	"The web address is not valid: a % sign must be followed by two hexadecimal digits.")

func (s *Server) badPath(echo.Context) error { return errBadPath }

// serveH2 configures srv for HTTP/2 through golang.org/x/net/http2 (graceful
// shutdown included) with every connection read through h2PathConn.
//
// x/net/http2's server is deprecated in favour of net/http's own, but net/http
// offers no way to serve HTTP/2 on a connection we read first: its :path check
// runs before any handler or hook.
func serveH2(srv *http.Server) error {
	h2 := &http2.Server{} //lint:ignore SA1019 see above: the only server that takes a wrapped conn
	//lint:ignore SA1019 see above
	if err := http2.ConfigureServer(srv, h2); err != nil {
		return err
	}
	srv.TLSNextProto["h2"] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		//lint:ignore SA1019 see above
		h2.ServeConn(newH2PathConn(c, hs.MaxHeaderBytes), &http2.ServeConnOpts{BaseConfig: hs, Handler: h})
	}
	return nil
}

// The HTTP/2 frame types and flags this reader looks at (RFC 9113 §6).
const (
	frameHeaders      = 0x1
	frameContinuation = 0x9
	flagEndStream     = 0x1
	flagEndHeaders    = 0x4
	flagPadded        = 0x8
	flagPriority      = 0x20
	// maxBlock bounds one header block as sent (compressed; x/net's default
	// MaxHeaderBytes is 1 MB).
	maxBlock = 1 << 20
	// defaultMaxList bounds a header list as decoded when the server sets no
	// MaxHeaderBytes (RFC 9113 §6.5.2: each field counts its name, its value
	// and 32).
	defaultMaxList = 64 << 10
	// outFrame is the largest frame written: the minimum every peer accepts.
	outFrame = 16384
)

var clientPreface = []byte(http2.ClientPreface)

// h2PathConn is the TLS connection as the HTTP/2 server reads it: frames pass
// through unchanged except header blocks, which are decoded and encoded again
// (with a fixed :path when needed). It keeps both HPACK contexts in step: the
// client's encoder with our decoder, our encoder with the server's decoder (both
// at the default table size of 4096, RFC 7541 §4.2).
type h2PathConn struct {
	*tls.Conn
	r        *bufio.Reader
	out      bytes.Buffer
	preface  bool
	passLeft int
	dec      *hpack.Decoder
	enc      *hpack.Encoder
	encBuf   bytes.Buffer
	block    []byte
	flags    byte
	stream   uint32
	priority []byte
	inBlock  bool
	// maxList bounds the decoded size of one header list: HPACK lets a block
	// of a few bytes per field name a large table entry again and again (an
	// "HPACK bomb"), so a 1 MB block could decode to gigabytes; the server's
	// own limit only applies after this reader has decoded and re-encoded it.
	maxList int
	fields  []hpack.HeaderField
	size    int
}

// newH2PathConn reads c for the HTTP/2 server; maxHeaderBytes is the server's
// MaxHeaderBytes (0: defaultMaxList), which x/net announces, plus its allowance
// of 32 bytes for each of ten fields, as SETTINGS_MAX_HEADER_LIST_SIZE: a header
// list that decodes larger ends the connection.
func newH2PathConn(c *tls.Conn, maxHeaderBytes int) *h2PathConn {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = defaultMaxList
	}
	p := &h2PathConn{Conn: c, r: bufio.NewReaderSize(c, 32<<10), maxList: maxHeaderBytes + 10*32}
	p.dec = hpack.NewDecoder(4096, p.emit)
	p.enc = hpack.NewEncoder(&p.encBuf)
	p.dec.SetMaxStringLength(p.maxList)
	return p
}

// errHeaderListTooLarge ends a connection whose header list decodes larger
// than maxList.
var errHeaderListTooLarge = errors.New("h2: header list too large")

func (p *h2PathConn) emit(f hpack.HeaderField) {
	p.size += len(f.Name) + len(f.Value) + 32
	if p.size <= p.maxList {
		p.fields = append(p.fields, f)
	}
}

func (p *h2PathConn) Read(b []byte) (int, error) {
	for {
		if p.out.Len() > 0 {
			return p.out.Read(b)
		}
		if p.passLeft > 0 {
			n := min(len(b), p.passLeft)
			n, err := p.r.Read(b[:n])
			p.passLeft -= n
			return n, err
		}
		if err := p.next(); err != nil {
			return 0, err
		}
	}
}

// next reads the preface or one frame header (and a header block fragment) and
// queues what the server is to read.
func (p *h2PathConn) next() error {
	if !p.preface {
		buf := make([]byte, len(clientPreface))
		if _, err := io.ReadFull(p.r, buf); err != nil {
			return err
		}
		p.preface = true
		p.out.Write(buf) // the server checks it
		return nil
	}
	var hdr [9]byte
	if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
		return err
	}
	length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	typ, flags := hdr[3], hdr[4]
	stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
	if typ != frameHeaders && typ != frameContinuation {
		if p.inBlock {
			return errors.New("h2: frame inside a header block")
		}
		p.out.Write(hdr[:])
		p.passLeft = length
		return nil
	}
	if length > maxBlock || len(p.block)+length > maxBlock {
		return errors.New("h2: header block too large")
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(p.r, payload); err != nil {
		return err
	}
	if typ == frameHeaders {
		frag, prio, err := headersFragment(flags, payload)
		if err != nil {
			return err
		}
		p.block, p.flags, p.stream, p.priority, p.inBlock = frag, flags, stream, prio, true
	} else {
		if !p.inBlock || stream != p.stream {
			return errors.New("h2: CONTINUATION without HEADERS")
		}
		p.block = append(p.block, payload...)
	}
	if flags&flagEndHeaders == 0 {
		return nil // CONTINUATION frames follow
	}
	p.inBlock = false
	return p.rewrite()
}

// headersFragment strips padding and priority from a HEADERS payload (RFC 9113 §6.2).
func headersFragment(flags byte, b []byte) (frag, prio []byte, err error) {
	pad := 0
	if flags&flagPadded != 0 {
		if len(b) < 1 {
			return nil, nil, errors.New("h2: short HEADERS")
		}
		pad, b = int(b[0]), b[1:]
	}
	if flags&flagPriority != 0 {
		if len(b) < 5 {
			return nil, nil, errors.New("h2: short HEADERS")
		}
		prio, b = append([]byte(nil), b[:5]...), b[5:]
	}
	if pad > len(b) {
		return nil, nil, errors.New("h2: padding longer than HEADERS")
	}
	return append([]byte(nil), b[:len(b)-pad]...), prio, nil
}

// rewrite decodes the finished block, fixes :path, encodes it again and queues
// it as one HEADERS frame plus CONTINUATION frames.
func (p *h2PathConn) rewrite() error {
	p.fields, p.size = p.fields[:0], 0
	if _, err := p.dec.Write(p.block); err != nil {
		return err
	}
	if err := p.dec.Close(); err != nil {
		return err
	}
	if p.size > p.maxList {
		return errHeaderListTooLarge
	}
	p.encBuf.Reset()
	for _, f := range p.fields {
		if f.Name == ":path" && f.Value != "*" {
			f.Value = fixPath(f.Value)
		}
		if err := p.enc.WriteField(f); err != nil {
			return err
		}
	}
	block := p.encBuf.Bytes()
	typ, flags := byte(frameHeaders), p.flags&(flagEndStream|flagPriority)
	first := true
	for first || len(block) > 0 {
		room := outFrame
		var pre []byte
		if first && p.priority != nil {
			pre, room = p.priority, outFrame-len(p.priority)
		}
		n := min(room, len(block))
		f := flags
		if n == len(block) {
			f |= flagEndHeaders
		}
		p.writeFrame(typ, f, pre, block[:n])
		block = block[n:]
		typ, flags, first = frameContinuation, 0, false
	}
	p.block = nil
	return nil
}

func (p *h2PathConn) writeFrame(typ, flags byte, pre, payload []byte) {
	n := len(pre) + len(payload)
	p.out.Write([]byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags})
	var sid [4]byte
	binary.BigEndian.PutUint32(sid[:], p.stream)
	p.out.Write(sid[:])
	p.out.Write(pre)
	p.out.Write(payload)
}

// fixPath returns v when it parses as a request URI, else badPathMarker with v's
// query when that parses (so ?lang=en keeps the page's language).
func fixPath(v string) string {
	if _, err := url.ParseRequestURI(v); err == nil {
		return v
	}
	if _, q, ok := strings.Cut(v, "?"); ok {
		if _, err := url.ParseQuery(q); err == nil {
			return badPathMarker + "?" + q
		}
	}
	return badPathMarker
}
