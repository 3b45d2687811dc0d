package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// docSpec is one document of `pgo bench download --sizes`: the rendered PDF of a
// generated dossier (mib 0), or a generated PDF of mib MiB.
type docSpec struct {
	name    string
	dossier dossier.Size
	mib     int
}

func parseDocSpecs(fs *flag.FlagSet, list string) ([]docSpec, error) {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "dossier" })
	if explicit {
		return nil, usageError(fs, "--dossier: the download bench takes its documents from --sizes")
	}
	var out []docSpec
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == string(dossier.SizeStandard) || item == string(dossier.SizeLarge):
			out = append(out, docSpec{name: item, dossier: dossier.Size(item)})
		case strings.HasSuffix(item, "MB"):
			n, err := strconv.Atoi(strings.TrimSuffix(item, "MB"))
			if err != nil || n < 1 || n > 512 {
				return nil, usageError(fs, "--sizes: %q is not 1MB..512MB", item)
			}
			out = append(out, docSpec{name: item, dossier: dossier.SizeStandard, mib: n})
		default:
			return nil, usageError(fs, "--sizes: %q is not standard, large or NMB", item)
		}
	}
	return out, nil
}

// benchDoc is one document ready to download: its URL, token and size, and the
// buffer its downloads are read into.
type benchDoc struct {
	name, url, tok, corr string
	size                 int64
	buf                  []byte
}

// readBufSize is the buffer a download's body is read into: a Read takes what
// has arrived, up to this, as the target's client does (transfer's readBody reads
// into a buffer of the document's size).
const readBufSize = 1 << 20

// readAll reads r to its end into buf, over and over, and counts the bytes. Over
// HTTP/2 the size of each Read matters: Go's client returns the flow-control
// window after every Read of 4 KiB or more (a WINDOW_UPDATE frame for the
// connection and one for the stream, flushed as one TLS record that the source
// reads), so io.Copy to io.Discard (8 KiB Reads) sent ~2,560 of them per 20 MiB,
// while the target's Reads take whatever has arrived (BENCHMARKS.md round 16).
func readAll(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (d benchDoc) get(ctx context.Context, r *benchRig, c *http.Client) (int64, error) {
	resp, err := r.peerGet(ctx, c, d.url, d.tok, d.corr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return readAll(resp.Body, d.buf)
}

// prepareDoc makes one patient with a dossier, consents for Zuid, redeems the
// code and downloads the document once (which waits for its render). For an NMB
// spec it then seals a generated PDF of that size with Noord's vault, as the
// render task seals one, and puts it under the same job.
func (r *benchRig) prepareDoc(ctx context.Context, c *http.Client, spec docSpec) (benchDoc, error) {
	ps, err := r.patients(ctx, 1, spec.dossier)
	if err != nil {
		return benchDoc{}, err
	}
	t, err := r.transport(nil, 1)
	if err != nil {
		return benchDoc{}, err
	}
	b := r.browser(ctx, t)
	if err := b.loginAt("noord", ps[0].noord, ps[0].password); err != nil {
		return benchDoc{}, err
	}
	pc, err := b.consentCode()
	if err != nil {
		return benchDoc{}, err
	}
	tok, err := r.redeem(ctx, c, pc)
	if err != nil {
		return benchDoc{}, err
	}
	id, err := r.documentID(ctx, c, tok, pc.corr)
	if err != nil {
		return benchDoc{}, err
	}
	d := benchDoc{name: spec.name, url: r.issuer("noord") + "/51/fhir/Binary/" + id, tok: tok, corr: pc.corr,
		buf: make([]byte, readBufSize)}
	if d.size, err = d.get(ctx, r, c); err != nil { // waits for the render (the Binary GET is held)
		return d, fmt.Errorf("first download: %w", err)
	}
	if spec.mib == 0 {
		return d, nil
	}
	if d.size, err = r.replaceDocument(ctx, id, spec.mib<<20); err != nil {
		return d, err
	}
	_, err = d.get(ctx, r, c) // warm-up of the new document
	return d, err
}

// replaceDocument seals a generated PDF of n bytes under job id at Noord.
func (r *benchRig) replaceDocument(ctx context.Context, id string, n int) (int64, error) {
	a := r.apps["noord"]
	pdf := generatedPDF(n)
	sealed, err := export.StreamSeal{V: a.Vault}.Seal(id, pdf)
	if err != nil {
		return 0, err
	}
	res := export.Result{Pages: 1, Size: int64(len(pdf)), SHA256: sha256.Sum256(pdf), SHA1: sha1.Sum(pdf)}
	return res.Size, exportdb.New(a.DB, worker.NewRenderTask).ReplaceDocument(ctx, id, res, sealed)
}

// generatedPDF is a well-formed PDF of about n bytes: one empty page and one
// stream of pseudo-random bytes (incompressible, like a PDF's compressed
// streams), with a correct cross-reference table.
func generatedPDF(n int) []byte {
	var buf bytes.Buffer
	buf.Grow(n + 1024)
	buf.WriteString("%PDF-1.7\n")
	var offs []int
	for _, body := range []string{"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"} {
		offs = append(offs, buf.Len())
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	payload := make([]byte, max(n-1024, 0))
	_, _ = rand.NewChaCha8([32]byte{16}).Read(payload)
	offs = append(offs, buf.Len())
	fmt.Fprintf(&buf, "4 0 obj\n<< /Length %d >>\nstream\n", len(payload))
	buf.Write(payload)
	buf.WriteString("\nendstream\nendobj\n")
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&buf, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return buf.Bytes()
}

// serveMemory reads Noord serve's heap in use and resident set from its
// operations endpoint (/metrics, Prometheus text): the figures of the serving
// process itself, not of the bench.
type serveMemory struct {
	url    string
	client *http.Client
}

type memSample struct{ heapMB, rssMB float64 }

// It asks for the two figures only and uncompressed: the whole page, gzipped,
// every 20 ms took about 5 % of the serving process's CPU during a download run
// (a profile of Noord serve, 20 MB documents), CPU the downloads it measures
// then lacked.
func (r *benchRig) serveMemory() serveMemory {
	return serveMemory{url: fmt.Sprintf("http://127.0.0.1:%d/metrics?name[]=go_memstats_heap_inuse_bytes&name[]=process_resident_memory_bytes",
		r.st.instance("noord").OpsPort),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}}
}

func (m serveMemory) sample() memSample {
	var s memSample
	resp, err := m.client.Get(m.url)
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
		switch name {
		case "go_memstats_heap_inuse_bytes":
			s.heapMB = v / (1 << 20)
		case "process_resident_memory_bytes":
			s.rssMB = v / (1 << 20)
		}
	}
	return s
}

// watch samples the heap every 20 ms until the returned function is called,
// which returns the highest heap seen (MB).
func (m serveMemory) watch() func() float64 {
	var mu sync.Mutex
	peak := 0.0
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			s := m.sample()
			mu.Lock()
			peak = max(peak, s.heapMB)
			mu.Unlock()
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return peak
	}
}
