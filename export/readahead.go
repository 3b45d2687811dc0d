package export

import (
	"io"
	"sync"
)

// aheadSize and aheadDepth shape a download's read-ahead: up to aheadDepth
// buffers of aheadSize plaintext bytes are read (PostgreSQL slices, decryption,
// hashing) while the consumer writes the one before to the network, so the two
// halves of a download overlap on two cores. Memory per download stays flat:
// (aheadDepth+1) * aheadSize.
const (
	aheadSize  = 256 << 10
	aheadDepth = 2
)

var aheadPool = sync.Pool{New: func() any { b := make([]byte, aheadSize); return &b }}

// aheadReader reads src in a goroutine of its own, ahead of its consumer. An
// error of src (a damaged document's size or hash) reaches the consumer after
// the bytes read before it, as from src itself. Close stops the goroutine, waits
// for it and closes src.
type aheadReader struct {
	src    io.ReadCloser
	full   chan aheadChunk // filled buffers, in order
	free   chan *[]byte    // buffers the consumer is done with
	stop   chan struct{}   // closed by Close
	exited chan struct{}   // closed when the goroutine has returned
	cur    []byte          // unread part of the current buffer
	curBuf *[]byte
	err    error // src's error, after cur
	once   sync.Once
}

type aheadChunk struct {
	buf *[]byte
	n   int
	err error
}

func newAheadReader(src io.ReadCloser) *aheadReader {
	a := &aheadReader{src: src, full: make(chan aheadChunk, aheadDepth), free: make(chan *[]byte, aheadDepth+1),
		stop: make(chan struct{}), exited: make(chan struct{})}
	for range aheadDepth + 1 {
		a.free <- aheadPool.Get().(*[]byte)
	}
	go a.run()
	return a
}

func (a *aheadReader) run() {
	defer close(a.exited)
	for {
		var buf *[]byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := io.ReadFull(a.src, *buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case a.full <- aheadChunk{buf, n, err}:
		case <-a.stop:
			aheadPool.Put(buf)
			return
		}
		if err != nil {
			return
		}
	}
}

// next makes the next filled buffer current; false when src's error is next.
func (a *aheadReader) next() bool {
	if a.curBuf != nil {
		a.free <- a.curBuf // never blocks: aheadDepth+1 buffers in all
		a.curBuf = nil
	}
	for len(a.cur) == 0 && a.err == nil {
		c := <-a.full
		a.curBuf, a.cur, a.err = c.buf, (*c.buf)[:c.n], c.err
	}
	return len(a.cur) > 0
}

func (a *aheadReader) Read(p []byte) (int, error) {
	if len(a.cur) == 0 && !a.next() {
		return 0, a.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// WriteTo hands whole buffers to w (fewer, larger writes than a copy loop's).
func (a *aheadReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(a.cur) > 0 || a.next() {
		n, err := w.Write(a.cur)
		total += int64(n)
		a.cur = a.cur[n:]
		if err != nil {
			return total, err
		}
	}
	if a.err == io.EOF {
		return total, nil
	}
	return total, a.err
}

// Close stops the read-ahead, gives its buffers back and closes src.
func (a *aheadReader) Close() error {
	var err error
	a.once.Do(func() {
		close(a.stop)
		<-a.exited
		err = a.src.Close()
		if a.curBuf != nil {
			aheadPool.Put(a.curBuf)
		}
		for len(a.full) > 0 {
			aheadPool.Put((<-a.full).buf)
		}
		for len(a.free) > 0 {
			aheadPool.Put(<-a.free)
		}
		a.cur, a.curBuf = nil, nil
	})
	return err
}
