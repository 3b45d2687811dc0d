package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// benchBrowser is a scripted patient's browser: a cookie jar over a transport
// shared by all patients (kept-alive TLS connections, as a browser keeps them),
// trusting the demo CA and resolving *.localhost to loopback.
type benchBrowser struct {
	c     *http.Client
	watch *http.Client // the same cookies through another serve process (nil: only one)
	r     *benchRig
	ctx   context.Context
}

func (r *benchRig) transport(cert *tls.Certificate, conns int) (*http.Transport, error) {
	c, err := demoClient(r.caFile())
	if err != nil {
		return nil, err
	}
	t := c.Transport.(*http.Transport)
	if cert != nil {
		t.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	t.MaxIdleConnsPerHost = conns
	t.ForceAttemptHTTP2 = true
	return t, nil
}

func (r *benchRig) browser(ctx context.Context, t *http.Transport) *benchBrowser {
	jar, _ := cookiejar.New(nil)
	return &benchBrowser{r: r, ctx: ctx, c: &http.Client{Transport: t, Jar: jar, Timeout: 60 * time.Second}}
}

// page is a fetched HTML page: its final URL and body.
type page struct {
	url  *url.URL
	body string
}

func (b *benchBrowser) do(method, u string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.ctx, method, u, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", "nl")
	resp, err := b.c.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, err
	}
	if resp.StatusCode >= 400 {
		return page{}, &statusError{method: method, path: resp.Request.URL.Path, status: resp.StatusCode}
	}
	return page{url: resp.Request.URL, body: string(raw)}, nil
}

// statusError is an HTTP answer of 400 or more to a scripted patient.
type statusError struct {
	method, path string
	status       int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d", e.method, e.path, e.status)
}

// submit posts the page's form whose action path starts with action, with its
// hidden and pre-filled fields, ticked boxes, and set on top.
func (b *benchBrowser) submit(p page, action string, set url.Values) (page, error) {
	f, ok := findForm(p.body, action)
	if !ok {
		return page{}, fmt.Errorf("no form %s on %s", action, p.url.Path)
	}
	for k, v := range set {
		f.values[k] = v
	}
	target, err := p.url.Parse(f.action)
	if err != nil {
		return page{}, err
	}
	return b.do(http.MethodPost, target.String(), f.values)
}

// login fills the password and the login-code step on the login page p.
func (b *benchBrowser) login(p page, key, user, password string) (page, error) {
	p, err := b.submit(p, "/login", url.Values{"name": {user}, "password": {password}})
	if err != nil {
		return p, err
	}
	code, err := b.r.code(b.ctx, key, user)
	if err != nil {
		return p, err
	}
	return b.submit(p, "/login/code", url.Values{"code": {code}})
}

// loginAt opens instance key's login page and logs in.
func (b *benchBrowser) loginAt(key, user, password string) error {
	p, err := b.do(http.MethodGet, b.r.issuer(key)+"/login", nil)
	if err == nil {
		_, err = b.login(p, key, user, password)
	}
	return err
}

// form is one HTML form: its action and the values a browser would send
// without the user touching it (radio buttons listed apart).
type form struct {
	action string
	values url.Values
	radios map[string][]string
}

// findForm parses body and returns the first POST form whose action path is
// action (query aside: /login?next=... is /login, /login/code is not).
func findForm(body, action string) (form, bool) {
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		return form{}, false
	}
	var found *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "form" {
			a := attr(n, "action")
			path, _, _ := strings.Cut(a, "?")
			if path == action && strings.EqualFold(attr(n, "method"), "post") {
				found = n
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		return form{}, false
	}
	f := form{action: attr(found, "action"), values: url.Values{}, radios: map[string][]string{}}
	var inputs func(n *html.Node)
	inputs = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			name, val := attr(n, "name"), attr(n, "value")
			switch attr(n, "type") {
			case "checkbox":
				if hasAttr(n, "checked") {
					f.values.Add(name, val)
				}
			case "radio":
				f.radios[name] = append(f.radios[name], val)
			default:
				f.values.Add(name, val)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			inputs(c)
		}
	}
	inputs(found)
	return f, true
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}
