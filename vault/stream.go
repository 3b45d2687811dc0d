package vault

import (
	"fmt"
	"io"

	streaming "github.com/tink-crypto/tink-go/v2/streamingaead/subtle"
	"github.com/tink-crypto/tink-go/v2/subtle/random"
)

// Stream parameters: tink's AES256_GCM_HKDF_1MB template (RFC 5869 HKDF-SHA256 derives
// a per-stream AES-256-GCM key from the data key and a random salt; 1 MiB ciphertext
// segments, each authenticated, the last one marked so truncation is detected).
const (
	streamSegmentSize = 1 << 20
	streamHKDF        = "SHA256"
)

// SealWriter returns a writer that encrypts everything written to it under a fresh
// data key bound to objectID and writes the ciphertext to w. The header goes to w at
// once; the caller must Close the writer (which does not close w) and check its error,
// or the last segment is missing and OpenReader reports the stream as truncated.
func (v *Vault) SealWriter(w io.Writer, objectID string) (io.WriteCloser, error) {
	dek := random.GetRandomBytes(dekSize)
	header, err := v.wrapHeader(formatStream, objectID, dek)
	if err != nil {
		return nil, err
	}
	s, err := newStream(dek)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, fmt.Errorf("vault: write stream header: %w", err)
	}
	ew, err := s.NewEncryptingWriter(w, payloadAD(formatStream, objectID))
	if err != nil {
		return nil, fmt.Errorf("vault: start stream: %w", err)
	}
	return ew, nil
}

// OpenReader returns a reader of the plaintext of a stream made by SealWriter for the
// same objectID. Each segment is authenticated before its bytes are returned; a
// tampered or truncated stream makes Read fail with ErrDecrypt (never a silent EOF).
func (v *Vault) OpenReader(r io.Reader, objectID string) (io.Reader, error) {
	src := &sourceReader{r: r}
	h, _, err := readHeader(src)
	if err != nil {
		return nil, src.orElse(err)
	}
	if h.format != formatStream {
		return nil, fmt.Errorf("%w: this is an in-memory ciphertext; use Open", ErrDecrypt)
	}
	dek, err := v.unwrapRaw(h, objectID)
	if err != nil {
		return nil, err
	}
	s, err := newStream(dek)
	if err != nil {
		return nil, err
	}
	dr, err := s.NewDecryptingReader(src, payloadAD(formatStream, objectID))
	if err != nil {
		return nil, src.orElse(fmt.Errorf("%w: stream header: %v", ErrDecrypt, err))
	}
	return &decryptErrReader{r: dr, src: src}, nil
}

// RewrapStream copies a SealWriter stream from r to w with its data key re-wrapped by
// the primary KEK key. The segments are copied byte for byte and authenticated on the
// way (so a damaged stream is reported, not carried over); no plaintext is written
// anywhere. On error, w holds a partial copy that the caller must discard.
func (v *Vault) RewrapStream(w io.Writer, r io.Reader, objectID string) error {
	src := &sourceReader{r: r}
	h, _, err := readHeader(src)
	if err != nil {
		return src.orElse(err)
	}
	if h.format != formatStream {
		return fmt.Errorf("%w: this is an in-memory ciphertext; use Rewrap", ErrDecrypt)
	}
	dek, err := v.unwrapRaw(h, objectID)
	if err != nil {
		return err
	}
	s, err := newStream(dek)
	if err != nil {
		return err
	}
	header, err := v.wrapHeader(formatStream, objectID, dek)
	if err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("vault: write stream header: %w", err)
	}
	// Everything the decrypting reader consumes is copied to w unchanged.
	tee := &teeReader{r: src, w: w}
	dr, err := s.NewDecryptingReader(tee, payloadAD(formatStream, objectID))
	if err == nil {
		_, err = io.Copy(io.Discard, &decryptErrReader{r: dr, src: src})
	} else {
		err = src.orElse(fmt.Errorf("%w: stream header: %v", ErrDecrypt, err))
	}
	if tee.err != nil {
		return tee.err // the caller's writer failed: not a damaged stream
	}
	return err
}

func newStream(dek []byte) (*streaming.AESGCMHKDF, error) {
	s, err := streaming.NewAESGCMHKDF(dek, streamHKDF, dekSize, streamSegmentSize, 0)
	if err != nil {
		return nil, fmt.Errorf("vault: stream key: %w", err)
	}
	return s, nil
}

// sourceReader remembers an I/O error of the caller's reader, so that it is reported
// as what it is (retry-worthy) and not as a damaged stream.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = fmt.Errorf("vault: read stream: %w", err)
	}
	return n, err
}

// orElse returns the source's I/O error if there was one, else err.
func (s *sourceReader) orElse(err error) error {
	if s.err != nil {
		return s.err
	}
	return err
}

// decryptErrReader reports a failed segment as ErrDecrypt, and an I/O error of the
// source as itself; io.EOF only comes after the authenticated last segment.
type decryptErrReader struct {
	r   io.Reader
	src *sourceReader
}

func (d *decryptErrReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		return n, d.src.orElse(fmt.Errorf("%w: stream: %v", ErrDecrypt, err))
	}
	return n, err
}

// teeReader is io.TeeReader that remembers a write error instead of returning it as a
// read error (which the decrypting reader would hide).
type teeReader struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && t.err == nil {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.err = fmt.Errorf("vault: write rewrapped stream: %w", werr)
			return n, t.err
		}
	}
	return n, err
}
