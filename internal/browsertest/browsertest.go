// Package browsertest is what the browser tests of server and cmd/pgo share: one
// Debian chromium driven by chromedp with the flags this machine needs, axe-core
// injected into a page and its WCAG 2.2 A/AA check, JavaScript switched off and
// on around a page load, and waiting for an element. Only tests import it.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Chromium is Debian's chromium, the browser every browser test drives.
const Chromium = "/usr/bin/chromium"

// Options are the allocator options of every browser test: chromedp's defaults
// with --headless --no-sandbox --disable-gpu --disable-background-networking
// and a 1280x900 window, then extra (certificate exceptions, say).
func Options(extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(Chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900))
	return append(opts, extra...)
}

// Start starts one chromium with Options(extra...) and returns the context of
// its first tab, limited to timeout when it is not 0; the browser is closed at
// the test's cleanup.
//
// chromium gets a TMPDIR of its own, removed after it (without failing the test
// on what a closing browser still writes): it leaves its singleton socket
// directories there, which piled up in /tmp one per browser test.
func Start(t testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	tmp, err := os.MkdirTemp("", "pgo-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) }) // after the browser has closed (cleanups run last first)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), Options(append(extra, chromedp.Env("TMPDIR="+tmp))...)...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if timeout > 0 {
		var cancel3 context.CancelFunc
		ctx, cancel3 = context.WithTimeout(ctx, timeout)
		t.Cleanup(cancel3)
	}
	return ctx
}

// Axe returns axe-core's axe.min.js: from PGO_AXE_JS (as scripts/test sets it),
// or installed once with npm into the user cache directory.
func Axe(t testing.TB) string {
	t.Helper()
	path := os.Getenv("PGO_AXE_JS")
	if path == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(cache, "pgo-axe")
		path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
		if _, err := os.Stat(path); err != nil {
			out, err := exec.Command("npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir, "axe-core@4").CombinedOutput()
			if err != nil {
				t.Fatalf("installing axe-core with npm (or set PGO_AXE_JS): %v\n%s", err, out)
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// WCAG22AA are the axe-core rule sets every page must pass: WCAG 2.0, 2.1 and
// 2.2, levels A and AA.
const WCAG22AA = `["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]`

// RunAxe injects axe (the source Axe returned) into the page shown in ctx and
// runs the WCAG22AA rules; it returns how many rules passed and the violations,
// each as "rule (selectors)", joined with "; " ("" when none).
func RunAxe(ctx context.Context, axe string) (passes int, violations string, err error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](axe, chromedp.EvalIgnoreExceptions)); err != nil {
		return 0, "", fmt.Errorf("loading axe: %w", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: `+WCAG22AA+`}})
		.then(r => r.passes.length + "|" + r.violations.map(v => v.id + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")").join("; "))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		return 0, "", fmt.Errorf("axe: %w", err)
	}
	n, violations, _ := strings.Cut(res, "|")
	passes, err = strconv.Atoi(n)
	return passes, violations, err
}

// CheckAxe runs RunAxe and fails the test (Errorf, named name) on a violation or
// when no rule passed at all (then the check proved nothing). It returns the
// number of rules passed and the violations.
func CheckAxe(t testing.TB, ctx context.Context, axe, name string) (int, string) {
	t.Helper()
	passes, violations, err := RunAxe(ctx, axe)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if passes == 0 {
		t.Errorf("%s: axe ran no passing rule; the check proves nothing", name)
	}
	if violations != "" {
		t.Errorf("%s: axe WCAG 2.2 A/AA violations: %s", name, violations)
	}
	return passes, violations
}

// Scripts switches the page's JavaScript off or on
// (Emulation.setScriptExecutionDisabled).
func Scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// Load runs steps that navigate (a link, a form, an address) with the page's
// JavaScript on or off as js says, waits for the new page's response, and
// switches JavaScript on again for the test's own probes (axe, reading the page):
// they run only after the page has loaded, so the page's scripts never run
// when js is false.
func Load(ctx context.Context, js bool, steps ...chromedp.Action[chromedp.Void]) (*network.Response, error) {
	if err := chromedp.Do(ctx, Scripts(js)); err != nil {
		return nil, err
	}
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		return nil, err
	}
	return resp, chromedp.Do(ctx, Scripts(true))
}

// Eval evaluates js in the page and returns its string result. A page that
// navigates while js runs (the progress page reloads itself when the transfer
// is done) is asked again, on the new page.
func Eval(t testing.TB, ctx context.Context, js string) string {
	t.Helper()
	s, err := probe(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

// Location is the page's address, asked again as Eval is when the page
// navigates meanwhile.
func Location(t testing.TB, ctx context.Context) string {
	t.Helper()
	loc, err := probe(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// probe runs a read-only action, again (up to 5 s) while the browser answers
// that the page navigated under it: that is the page loading its successor,
// not a failure of what is tested.
func probe[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := chromedp.Run(ctx, a)
		if err == nil || !navigated(err) || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// navigated reports whether err is the DevTools protocol's answer to a probe
// whose page (or its JavaScript context) went away because it navigated.
func navigated(err error) bool {
	s := err.Error()
	return strings.Contains(s, "navigated or closed") || strings.Contains(s, "Execution context was destroyed") ||
		strings.Contains(s, "Cannot find context with specified id")
}

// WaitReady waits up to timeout until an element matching the CSS selector sel
// is on the page (a DOM query: no page script needed, so it also sees a page
// that reloads itself without JavaScript).
func WaitReady(ctx context.Context, sel string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(sel)))
}

// Screenshot writes a full-page screenshot of the page to file: PNG at quality
// 100, JPEG below.
func Screenshot(ctx context.Context, file string, quality int) error {
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(quality))
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return os.WriteFile(file, img, 0o644)
}
